# fmspush configuration (HCL). Reference: docs/config.md.
#
# This file is also fmspush's embedded default: `fmspush run` with no -config
# uses it, so a fresh machine with no camera, no account and no ffmpeg pushes
# the builtin sample to the builtin emulator.
#
# The file is watched: save it (in place or by an editor's atomic rename) or
# send SIGHUP and fmspush reloads it. Only streams whose settings changed are
# restarted; a file that fails to decode changes nothing and its error
# (file:line:column) shows in the status API.
#
# Durations are strings in Go syntax: "500ms", "5s", "1m30s".
# Every setting not written here takes its documented default.

# The service itself.
service {
  # Status API, health and Prometheus metrics. Keep it on loopback: the
  # status API describes every stream (keys are redacted, but still).
  http_listen = "127.0.0.1:8765"

  # trace | debug | info | warn | error
  log_level = "info"

  # text | json
  log_format = "text"

  # The ffmpeg binary of the ffmpeg path's exec driver (looked up in PATH).
  ffmpeg_path = "ffmpeg"
}

# The builtin strict FMS emulator, started inside the service. Remove this
# block to start no emulator. Targets written as emulator://APP/NAME point at it.
emulator {
  listen = "127.0.0.1:1935"

  # lenient | cloud | companion (companion is the strictest: like a streamer's
  # local "live companion" receiver)
  profile = "companion"

  # Individual emulator rules can be switched here, for example to watch a
  # failover happen; `fmspush fmsim -list-rules` lists them.
  # rules = {}
}

# One stream: the embedded sample, pushed to the builtin emulator.
stream "demo" {
  enabled = true

  # rtsp:// rtsps:// rtmp:// rtmps:// file:PATH builtin:sample
  source = "builtin:sample"

  # rtmp:// or rtmps:// (the last path segment and every query value are
  # secrets and never shown), or emulator://APP/NAME for the builtin emulator.
  target = "emulator://live/demo"

  # The path that publishes while both are healthy; the other one is the
  # standby, kept ready and probed. native needs no ffmpeg binary.
  prefer = "native"

  # copy | silent_if_missing | silent | drop
  audio = "copy"

  # The ffmpeg path.
  ffmpeg {
    driver        = "exec" # exec | libav (build tag libav)
    stale_timeout = "5s"   # no progress for this long: ffmpeg is hung, kill it
  }

  # The pure-Go path.
  native {
    handshake    = "digest" # digest | simple
    chunk_size   = 4096
    source_grace = "10s" # keep publishing this long while the source is away
  }

  # Probing, failover, failback and the limits that keep the target happy.
  failover {
    probe_interval      = "30s"
    probe_depth         = "L2" # L0 tcp .. L2 connect; L3+ publish and need probe_target
    failback_after      = "60s"
    backoff_initial     = "1s"
    backoff_max         = "60s"
    attempts_per_minute = 6
    circuit_failures    = 3
    circuit_window      = "5m"
  }
}

# A camera to a platform, for example (disabled; fill in your own):
#
# stream "cam1" {
#   enabled = false
#   source  = "rtsp://admin:password@192.168.1.64:554/Streaming/Channels/101"
#   target  = "rtmp://push.example.com/live/STREAMKEY?wsSecret=SECRET&wsTime=65f0a1b2"
#   prefer  = "ffmpeg"
#   audio   = "silent_if_missing"
# }
