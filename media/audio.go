package media

// AudioPolicy says what the pushed stream carries as audio (a stream's
// `audio` setting): declared once here for the config and both paths.
type AudioPolicy string

// The audio policies.
const (
	// AudioCopy keeps the source's first audio track: copied when it is AAC
	// or MP3 (what FLV targets accept), transcoded to AAC by the ffmpeg path
	// otherwise. A source without audio is pushed without audio.
	AudioCopy AudioPolicy = "copy"
	// AudioSilentIfMissing behaves like AudioCopy, but adds a silent AAC
	// track when the source has no audio (strict targets demand one).
	AudioSilentIfMissing AudioPolicy = "silent_if_missing"
	// AudioSilent replaces the source's audio with a silent AAC track.
	AudioSilent AudioPolicy = "silent"
	// AudioDrop pushes video only.
	AudioDrop AudioPolicy = "drop"
)
