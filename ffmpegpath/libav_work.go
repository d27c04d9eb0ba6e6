//go:build libav

package ffmpegpath

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/fmspush/fmspush/media"
)

// usec is libav's AV_TIME_BASE_Q.
var usec = astiav.NewRational(1, 1000000)

// unsupportedError is a source the libav driver cannot push as asked.
type unsupportedError string

// Error says what the driver cannot do.
func (e unsupportedError) Error() string { return "ffmpegpath: " + string(e) }

// track is one mapped stream.
type track struct {
	in, out  *astiav.Stream
	video    bool
	lastDts  int64 // last output dts, in the output time base
	started  bool  // video: a keyframe went out
	haveLast bool
}

// work runs on one locked OS thread: every libav call of the push happens
// here, so the log callback can tell the push's lines by thread.
func (r *remux) work() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(r.done)
	id := registerSink(r.emit)
	bindSink(id)
	defer func() { bindSink(0); unregisterSink(id) }()
	r.exitCode = r.push()
	r.end = time.Now()
}

// push opens the source and the target and copies packets; it returns the
// "exit status" (0: the source ended or a stop, 1: an error).
func (r *remux) push() int {
	input := inputOf(r.s)
	in, err := r.openInput(input)
	if err != nil {
		r.note("error", fmt.Sprintf("%s: %v", input, err))
		return 1
	}
	defer in.CloseInput()
	tracks, err := r.pickTracks(in)
	if err != nil {
		var u unsupportedError
		if errors.As(err, &u) {
			r.unsupported = err
		}
		r.note("error", fmt.Sprintf("%s: %v", input, err))
		return 1
	}
	out, err := r.openOutput(tracks)
	if err != nil {
		return 1
	}
	defer out.Free()
	code := r.copy(in, out, tracks)
	if err := out.WriteTrailer(); err != nil && code == 0 && !r.stopping.Load() {
		r.note("error", fmt.Sprintf("Error writing trailer of %s: %v", r.s.Target, err))
		code = 1
	}
	return code
}

// openInput opens and probes the source with options that fit it.
func (r *remux) openInput(input string) (*astiav.FormatContext, error) {
	in := astiav.AllocFormatContext()
	if in == nil {
		return nil, errors.New("cannot allocate the input context")
	}
	r.guard(in)
	opts := astiav.NewDictionary()
	defer opts.Free()
	switch KindOf(input) {
	case SourceRTSP:
		opts.Set("rtsp_transport", "tcp", 0)
		opts.Set("timeout", micros(r.s.IOTimeout), 0)
	case SourceRTMP, SourceNetwork:
		opts.Set("rw_timeout", micros(r.s.IOTimeout), 0)
	}
	r.note("debug", "Opening an input file: "+input+".")
	if err := in.OpenInput(input, nil, opts); err != nil {
		return nil, err // libav freed the context
	}
	if err := in.FindStreamInfo(nil); err != nil {
		in.CloseInput()
		return nil, err
	}
	r.note("debug", "Successfully opened the file.")
	return in, nil
}

// pickTracks maps the first video stream and, unless audio is dropped, the
// first audio stream (which must be AAC or MP3: this driver never
// transcodes).
func (r *remux) pickTracks(in *astiav.FormatContext) ([]*track, error) {
	var video, audio *astiav.Stream
	for _, st := range in.Streams() {
		switch st.CodecParameters().MediaType() {
		case astiav.MediaTypeVideo:
			if video == nil {
				video = st
			}
		case astiav.MediaTypeAudio:
			if audio == nil {
				audio = st
			}
		}
	}
	if video == nil {
		return nil, errors.New("no video stream")
	}
	tracks := []*track{{in: video, video: true}}
	if r.s.Audio == media.AudioDrop {
		return tracks, nil
	}
	if audio == nil {
		if r.s.Audio == media.AudioSilentIfMissing {
			return nil, unsupportedError("no audio stream, and the libav driver cannot add silent audio; use the exec driver")
		}
		return tracks, nil
	}
	if id := audio.CodecParameters().CodecID(); id != astiav.CodecIDAac && id != astiav.CodecIDMp3 {
		return nil, unsupportedError(fmt.Sprintf("audio codec %s needs transcoding, which the libav driver does not do; use the exec driver or audio \"drop\"", id))
	}
	return append(tracks, &track{in: audio}), nil
}

// openOutput creates the tee output, its streams, and writes the header:
// the slave is opened (connect, publish) inside WriteHeader.
func (r *remux) openOutput(tracks []*track) (*astiav.FormatContext, error) {
	out, err := astiav.AllocOutputFormatContext(nil, "tee", teeSpec(r.s))
	if err != nil {
		r.note("error", fmt.Sprintf("%s: %v", r.s.Target, err))
		return nil, err
	}
	r.guard(out)
	for _, t := range tracks {
		t.out = out.NewStream(nil)
		if err := t.in.CodecParameters().Copy(t.out.CodecParameters()); err != nil {
			out.Free()
			r.note("error", fmt.Sprintf("%s: %v", r.s.Target, err))
			return nil, err
		}
		t.out.CodecParameters().SetCodecTag(0)
		t.out.SetTimeBase(t.in.TimeBase())
		// onMetaData's framerate comes from here (strict ingest demands it).
		t.out.SetAvgFrameRate(t.in.AvgFrameRate())
		t.out.SetRFrameRate(t.in.RFrameRate())
	}
	r.note("debug", "Opening an output file: "+r.s.Target+".")
	if err := out.WriteHeader(nil); err != nil {
		out.Free()
		r.note("error", fmt.Sprintf("%s: %v", r.s.Target, err))
		return nil, err
	}
	r.note("debug", "Successfully opened the file.")
	r.publishedAt = time.Now()
	r.published.Store(r.publishedAt.UnixNano())
	r.lastAdvance.Store(r.publishedAt.UnixNano())
	return out, nil
}

// clock turns input timestamps into output ones: relative to the source's
// start, shifted by the loops of a file and by base, paced at real time for
// files.
type clock struct {
	startUs int64 // the source's start
	loopUs  int64 // added after each loop of a file
	endUs   int64 // the largest end timestamp seen, before the loop shift
	baseUs  int64
	paced   bool
	wall    time.Time
}

// copy moves packets until the source ends, a stop, or an error.
func (r *remux) copy(in, out *astiav.FormatContext, tracks []*track) int {
	byIndex := map[int]*track{}
	for _, t := range tracks {
		byIndex[t.in.Index()] = t
	}
	c := &clock{startUs: 0, baseUs: r.base.Microseconds(), paced: KindOf(r.s.Source) == SourceFile, wall: time.Now()}
	if st := in.StartTime(); st != astiav.NoPtsValue {
		c.startUs = st
	}
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	for {
		if r.stopRequested() {
			return 0
		}
		if err := in.ReadFrame(pkt); err != nil {
			if code, again := r.readFailed(in, c, err); !again {
				return code
			}
			continue
		}
		t := byIndex[pkt.StreamIndex()]
		if t == nil || !r.retime(pkt, t, c) {
			pkt.Unref()
			continue
		}
		if !r.pace(c, pkt, t) {
			pkt.Unref()
			return 0
		}
		if code, ok := r.write(out, pkt, t); !ok {
			return code
		}
	}
}

func (r *remux) stopRequested() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// readFailed handles a read error: a file loops, a live source ends, an
// error is the source's (unless the push is being stopped or was stalled).
func (r *remux) readFailed(in *astiav.FormatContext, c *clock, err error) (code int, again bool) {
	switch {
	case r.stopping.Load() || r.stalled.Load() || r.noVideo.Load():
		return 0, false
	case errors.Is(err, astiav.ErrEof) && c.paced:
		if serr := in.SeekFrame(-1, c.startUs, astiav.NewSeekFlags(astiav.SeekFlagBackward)); serr != nil {
			r.note("error", fmt.Sprintf("%s: cannot loop: %v", inputOf(r.s), serr))
			return 1, false
		}
		c.loopUs += c.endUs - c.startUs
		c.endUs = c.startUs
		return 0, true
	case errors.Is(err, astiav.ErrEof):
		return 0, false
	}
	r.note("error", fmt.Sprintf("Error during demuxing: %v", err))
	return 1, false
}

// retime rescales a packet to the output, dropping packets without DTS,
// with DTS going backwards, and video before its first keyframe.
func (r *remux) retime(pkt *astiav.Packet, t *track, c *clock) bool {
	if pkt.Dts() == astiav.NoPtsValue {
		return false
	}
	if t.video && !t.started && !pkt.Flags().Has(astiav.PacketFlagKey) {
		return false
	}
	inTb, outTb := t.in.TimeBase(), t.out.TimeBase()
	dtsUs := astiav.RescaleQ(pkt.Dts(), inTb, usec)
	if end := dtsUs + astiav.RescaleQ(pkt.Duration(), inTb, usec); end > c.endUs {
		c.endUs = end
	}
	shift := c.loopUs - c.startUs + c.baseUs
	dts := astiav.RescaleQ(dtsUs+shift, usec, outTb)
	if t.haveLast && dts <= t.lastDts {
		return false
	}
	pts := dts
	if pkt.Pts() != astiav.NoPtsValue {
		pts = astiav.RescaleQ(astiav.RescaleQ(pkt.Pts(), inTb, usec)+shift, usec, outTb)
	}
	pkt.SetDts(dts)
	pkt.SetPts(pts)
	pkt.SetDuration(astiav.RescaleQ(pkt.Duration(), inTb, outTb))
	pkt.SetStreamIndex(t.out.Index())
	pkt.SetPos(-1)
	t.lastDts, t.haveLast, t.started = dts, true, true
	return true
}

// maxLate is how far behind the clock a paced file may fall before pace
// re-anchors it (media.MaxLate, the native looper's bound).
const maxLate = time.Second

// pace holds a file's packet until its time has come (ffmpeg's -re); it
// returns false when a stop came first.
func (r *remux) pace(c *clock, pkt *astiav.Packet, t *track) bool {
	if !c.paced {
		return true
	}
	mediaUs := astiav.RescaleQ(pkt.Dts(), t.out.TimeBase(), usec) - c.baseUs
	wait := time.Until(c.wall.Add(time.Duration(mediaUs) * time.Microsecond))
	if wait < -maxLate {
		// Far behind the clock (the process was paused, or starved):
		// re-anchor and go on at real time, as the native looper does,
		// instead of bursting the missed media at the server.
		c.wall = c.wall.Add(-wait)
		return true
	}
	if wait <= 0 {
		return true
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.stop:
		return false
	}
}

// write sends one packet and reports it into the signals.
func (r *remux) write(out *astiav.FormatContext, pkt *astiav.Packet, t *track) (int, bool) {
	size := int64(pkt.Size())
	dtsMs := astiav.RescaleQ(pkt.Dts(), t.out.TimeBase(), astiav.NewRational(1, 1000))
	if err := out.WriteInterleavedFrame(pkt); err != nil { // takes the reference even on error
		if r.stopping.Load() || r.stalled.Load() || r.noVideo.Load() {
			return 0, false
		}
		r.note("error", fmt.Sprintf("av_interleaved_write_frame(): %v", err))
		return 1, false
	}
	now := time.Now()
	r.sig.BytesSent.Add(size)
	if t.video {
		r.sig.VideoFrames.Add(1)
		if r.first.IsZero() {
			r.first = now
			r.firstVideo.Store(now.UnixNano())
			r.sig.MarkLive()
		}
	} else {
		r.sig.AudioFrames.Add(1)
	}
	r.sig.LastTimestamp.Store(dtsMs)
	r.sig.Progress()
	r.lastAdvance.Store(now.UnixNano())
	return 0, true
}
