package rtmp

import (
	"errors"
	"fmt"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/media"
)

// writeMedia sends one media message on the published stream; frame marks
// a coded audio or video frame (not metadata or a sequence header).
func (p *Publisher) writeMedia(m *Message, fmt0, frame bool) error {
	return p.writeMediaMode(m, fmt0, frame, false)
}

// writeMediaMode is writeMedia; with buffer, the message waits in the send
// buffer for the next flushing write or Service.
func (p *Publisher) writeMediaMode(m *Message, fmt0, frame, buffer bool) error {
	if err := p.Err(); err != nil {
		return err
	}
	if p.closing.Load() {
		return p.newError(health.LayerUnknown, "closed", errors.New("publisher closed"))
	}
	if p.publishAt.Load() == 0 {
		return p.newError(health.LayerUnknown, "not_published", errors.New("media before NetStream.Publish.Start"))
	}
	m.StreamID = p.streamID
	now := time.Now().UnixNano()
	p.firstAt.CompareAndSwap(0, now)
	if frame {
		p.firstFrameAt.CompareAndSwap(0, now)
	}
	var err error
	switch {
	case fmt0:
		err = p.conn.WriteMessageFmt0(m)
	case buffer:
		err = p.conn.BufferMessage(m)
	default:
		err = p.conn.WriteMessage(m)
	}
	if err != nil {
		if p.closing.Load() {
			return p.newError(health.LayerUnknown, "closed", errors.New("publisher closed"))
		}
		return p.fail(p.connectionError(err))
	}
	switch m.Type {
	case TypeVideo:
		p.video.Add(1)
	case TypeAudio:
		p.audio.Add(1)
	}
	p.lastTS.Store(m.Timestamp)
	return nil
}

// WriteTag sends an FLV tag body as it is: video on csid 6, audio on csid 4,
// script data (an "onMetaData" tag gets "@setDataFrame" prepended) on csid 4
// with a fmt 0 header. This is the path for FLV-level sources.
func (p *Publisher) WriteTag(tagType uint8, timestamp uint32, body []byte) error {
	m := &Message{Type: tagType, Timestamp: timestamp, Payload: body}
	switch tagType {
	case TypeVideo:
		m.ChunkStreamID = CSIDVideo
	case TypeAudio:
		m.ChunkStreamID = CSIDAudio
	case TypeDataAMF0:
		m.ChunkStreamID = CSIDAudio
		m.Payload = withSetDataFrame(body)
		return p.writeMedia(m, true, false)
	default:
		return fmt.Errorf("rtmp: FLV tag type %d", tagType)
	}
	return p.writeMedia(m, false, isCodedFrame(tagType, body))
}

func withSetDataFrame(body []byte) []byte {
	vals, err := DecodeAMF(body)
	if err != nil || len(vals) == 0 || vals[0] == "@setDataFrame" {
		return body
	}
	prefix, _ := EncodeAMF("@setDataFrame")
	return append(prefix, body...)
}

// WriteMetadata sends @setDataFrame onMetaData (ECMA array, ffmpeg's keys) at ts 0, fmt 0, csid 4.
func (p *Publisher) WriteMetadata(md media.Metadata) error {
	payload, err := SetDataFrame(md)
	if err != nil {
		return err
	}
	return p.writeMedia(&Message{ChunkStreamID: CSIDAudio, Type: TypeDataAMF0, Payload: payload}, true, false)
}

// WriteVideoConfig sends the video sequence header for v (AVC, or H.265 per
// PublishOptions.H265) at ts.
func (p *Publisher) WriteVideoConfig(v media.VideoParams, ts time.Duration) error {
	body, err := media.VideoSequenceHeaderTag(v, p.opts.H265)
	if err != nil {
		return fmt.Errorf("rtmp: %w", err)
	}
	return p.writeMedia(&Message{ChunkStreamID: CSIDVideo, Type: TypeVideo, Timestamp: ms(ts), Payload: body}, false, false)
}

// WriteAudioConfig sends the AAC sequence header for a at ts.
func (p *Publisher) WriteAudioConfig(a media.AudioParams, ts time.Duration) error {
	if a.Codec != media.CodecAAC || len(a.Config) < 2 {
		return fmt.Errorf("rtmp: audio needs AAC with an AudioSpecificConfig (codec %s, %d bytes)", a.Codec, len(a.Config))
	}
	return p.writeMedia(&Message{ChunkStreamID: CSIDAudio, Type: TypeAudio, Timestamp: ms(ts), Payload: media.AudioSequenceHeaderTag(a)}, false, false)
}

// WriteUnit sends a video or audio access unit according to its codec.
func (p *Publisher) WriteUnit(u media.Unit) error { return p.unit(u, false) }

// BufferUnit chunks a video or audio access unit into the send buffer
// without writing it: the next write that flushes, or Service, sends it
// with whatever else waits, in one syscall where it fits (a full buffer is
// written as it fills). An owner that takes units in bursts (a video frame
// and the audio released with it) buffers each and calls Service when the
// burst ends: one write a burst, and no timer.
func (p *Publisher) BufferUnit(u media.Unit) error { return p.unit(u, true) }

func (p *Publisher) unit(u media.Unit, buffer bool) error {
	m, err := p.unitMessage(u)
	if err != nil {
		return err
	}
	return p.writeMediaMode(m, false, true, buffer)
}

// unitMessage is u's RTMP message: a video frame (AVCC, composition time
// PTS-DTS) or a raw AAC frame, at its DTS. Its payload is the publisher's
// scratch buffer, reused by the next unit: the message is chunked into the
// send buffer before that.
func (p *Publisher) unitMessage(u media.Unit) (*Message, error) {
	if cap(p.scratch) > maxScratch {
		p.scratch = nil // a huge frame's buffer is not kept
	}
	if u.Codec.IsVideo() {
		body, err := media.AppendVideoFrameTag(p.scratch[:0], u, p.opts.H265)
		if err != nil {
			return nil, fmt.Errorf("rtmp: %w", err)
		}
		p.scratch = body
		return &Message{ChunkStreamID: CSIDVideo, Type: TypeVideo, Timestamp: ms(u.DTS), Payload: body}, nil
	}
	if u.Codec != media.CodecAAC {
		return nil, fmt.Errorf("rtmp: audio codec %s", u.Codec)
	}
	p.scratch = media.AppendAudioFrameTag(p.scratch[:0], u)
	return &Message{ChunkStreamID: CSIDAudio, Type: TypeAudio, Timestamp: ms(u.DTS), Payload: p.scratch}, nil
}

// maxScratch is the largest tag body buffer a publisher keeps between
// frames (a 1080p keyframe is 100-300 KB).
const maxScratch = 1 << 20

func ms(d time.Duration) uint32 {
	if d < 0 {
		return 0
	}
	return uint32(d / time.Millisecond)
}

// isCodedFrame tells coded frames from sequence headers in FLV tag bodies
// (legacy AVC/HEVC, Enhanced RTMP, AAC; other audio is always a frame).
func isCodedFrame(tagType uint8, body []byte) bool {
	if len(body) < 2 {
		return false
	}
	if tagType == TypeAudio {
		return body[0]>>4 != media.FLVSoundAAC || body[1] == 1
	}
	if body[0]&0x80 != 0 {
		pt := body[0] & 0x0F
		return pt == exPacketCodedFrames || pt == 3
	}
	return body[1] == flvPacketNALU
}

// Wake is signalled when the reader queued replies (acks, PingResponses):
// the owner should call Service soon.
func (p *Publisher) Wake() <-chan struct{} { return p.conn.Replies() }

// Service writes the queued replies and whatever waits in the send buffer.
// Only the owner calls it.
func (p *Publisher) Service() error {
	if err := p.Err(); err != nil {
		return err
	}
	if p.closing.Load() {
		return nil
	}
	if err := p.conn.Flush(); err != nil {
		if p.closing.Load() {
			return nil
		}
		return p.fail(p.connectionError(err))
	}
	return nil
}

// AskAcks asks the server for an Acknowledgement every window bytes its
// application reads, from now on (a Window Acknowledgement Size message,
// which servers apply at once). It flushes what waits in the send buffer.
// Only the owner calls it.
func (p *Publisher) AskAcks(window uint32) error {
	if err := p.Err(); err != nil {
		return err
	}
	if err := p.conn.WriteMessage(WindowAckSizeMessage(window)); err != nil {
		if p.closing.Load() {
			return p.newError(health.LayerUnknown, "closed", errors.New("publisher closed"))
		}
		return p.fail(p.connectionError(err))
	}
	return nil
}
