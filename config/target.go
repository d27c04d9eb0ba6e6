package config

import "reflect"

// withTarget returns the stream's raw settings for one target block: its url
// as the target, and each attribute the target sets (in its own prefer,
// audio, ffmpeg, native, rtmp and failover blocks) in place of the
// stream's; what the target does not set stays the stream's.
func (r rawStream) withTarget(t rawTarget) rawStream {
	r.Targets = nil
	r.Target = t.URL
	mergeRaw(reflect.ValueOf(&r.rawSettings).Elem(), reflect.ValueOf(t.rawSettings))
	return r
}

// mergeRaw sets each attribute over sets into dst, and merges nested
// blocks the same way (copying dst's before changing them).
func mergeRaw(dst, over reflect.Value) {
	for i := range dst.NumField() {
		d, o := dst.Field(i), over.Field(i)
		if o.Kind() != reflect.Pointer || o.IsNil() {
			continue
		}
		if o.Type() == attrPtrType || d.IsNil() {
			d.Set(o)
			continue
		}
		cp := reflect.New(d.Type().Elem())
		cp.Elem().Set(d.Elem())
		mergeRaw(cp.Elem(), o.Elem())
		d.Set(cp)
	}
}

// BackupSuffix names a hot backup's push: the target's name (or "" for the
// single-target form) followed by it ("yt.backup", "backup").
const BackupSuffix = "backup"

// withBackup returns the push st and, when its raw settings name a hot
// backup ingest, the backup's push: the same settings with the backup URL
// as the target, named TargetName + ".backup" ("backup" for the
// single-target form). A cold backup stays in st (Backup, BackupSpec).
func withBackup(s scope, st Stream, r rawStream, emu *Emulator) []Stream {
	if r.Backup == nil {
		if r.BackupMode != nil {
			s.fail(r.BackupMode, "needs a backup URL (backup = \"rtmp://…\")")
		}
		return []Stream{st}
	}
	mode := enum(s, r.BackupMode, DefaultBackupMode, BackupHot, BackupCold)
	spec, ok := s.strOK(r.Backup, "")
	if !ok {
		return []Stream{st}
	}
	resolved := target(s, r.Backup, spec, st.RTMP.App != "", emu)
	if spec == st.TargetSpec {
		s.fail(r.Backup, "must differ from the primary target")
	}
	if mode == BackupCold {
		st.Backup, st.BackupSpec = resolved, spec
		return []Stream{st}
	}
	b := st
	b.TargetSpec, b.Target = spec, resolved
	b.TargetName, b.BackupOf = BackupSuffix, st.ID()
	if st.TargetName != "" {
		b.TargetName = st.TargetName + "." + BackupSuffix
	}
	return []Stream{st, b}
}
