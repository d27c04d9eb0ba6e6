// Package rtmp is fmspush's FMS-compatible RTMP: the digest handshake (both
// sides), a chunk reader and a chunk writer with a header policy, a Conn that
// acks and answers pings, AMF0 command helpers, FLV tag bodies and the client
// publish session (Publisher). AMF0 values come from gortmplib's pkg/amf0;
// everything on the wire is written here.
package rtmp

import (
	"encoding/binary"
	"fmt"
)

// Message types (RTMP 1.0 §5.4, §7.1).
const (
	TypeSetChunkSize     uint8 = 1
	TypeAbort            uint8 = 2
	TypeAck              uint8 = 3
	TypeUserControl      uint8 = 4
	TypeWindowAckSize    uint8 = 5
	TypeSetPeerBandwidth uint8 = 6
	TypeAudio            uint8 = 8
	TypeVideo            uint8 = 9
	TypeDataAMF0         uint8 = 18
	TypeCommandAMF0      uint8 = 20
)

// User control event types (the first two bytes of a TypeUserControl payload).
const (
	UserControlStreamBegin  uint16 = 0
	UserControlPingRequest  uint16 = 6
	UserControlPingResponse uint16 = 7
)

// Short aliases of the user control events, as the RTMP spec names them.
const (
	StreamBegin  = UserControlStreamBegin
	PingRequest  = UserControlPingRequest
	PingResponse = UserControlPingResponse
)

// Chunk stream ids fmspush uses, the same as ffmpeg's.
const (
	CSIDControl uint32 = 2 // protocol control and user control messages
	CSIDCommand uint32 = 3 // connect, releaseStream, FCPublish, createStream, ...
	CSIDAudio   uint32 = 4 // audio and @setDataFrame metadata
	CSIDVideo   uint32 = 6 // video
	CSIDPublish uint32 = 8 // the publish command
)

// Message is one RTMP message.
type Message struct {
	ChunkStreamID uint32
	Type          uint8
	Timestamp     uint32
	StreamID      uint32
	Payload       []byte
	// Fmt is the header type (0-3) of the message's first chunk as read. On
	// write it is ignored unless the writer's policy is HeaderExplicit.
	Fmt uint8
}

// String describes the message without its payload.
func (m *Message) String() string {
	return fmt.Sprintf("csid=%d fmt=%d type=%d ts=%d msid=%d len=%d",
		m.ChunkStreamID, m.Fmt, m.Type, m.Timestamp, m.StreamID, len(m.Payload))
}

func u32Message(typ uint8, v uint32) *Message {
	p := make([]byte, 4)
	binary.BigEndian.PutUint32(p, v)
	return &Message{ChunkStreamID: CSIDControl, Type: typ, Payload: p}
}

// SetChunkSizeMessage builds a SetChunkSize message.
func SetChunkSizeMessage(size uint32) *Message {
	return u32Message(TypeSetChunkSize, size&0x7FFFFFFF)
}

// AckMessage builds an Acknowledgement carrying the sequence number (bytes read, mod 2^32).
func AckMessage(seq uint32) *Message { return u32Message(TypeAck, seq) }

// WindowAckSizeMessage builds a Window Acknowledgement Size message.
func WindowAckSizeMessage(size uint32) *Message { return u32Message(TypeWindowAckSize, size) }

// AbortMessage builds an Abort message for a chunk stream.
func AbortMessage(csid uint32) *Message { return u32Message(TypeAbort, csid) }

// SetPeerBandwidthMessage builds a Set Peer Bandwidth message (limit type 0 hard, 1 soft, 2 dynamic).
func SetPeerBandwidthMessage(size uint32, limitType uint8) *Message {
	m := u32Message(TypeSetPeerBandwidth, size)
	m.Payload = append(m.Payload, limitType)
	return m
}

// UserControlMessage builds a user control message with a 4-byte event value.
func UserControlMessage(event uint16, value uint32) *Message {
	p := make([]byte, 6)
	binary.BigEndian.PutUint16(p, event)
	binary.BigEndian.PutUint32(p[2:], value)
	return &Message{ChunkStreamID: CSIDControl, Type: TypeUserControl, Payload: p}
}

// ParseUint32 returns the first four bytes of a control message payload
// (SetChunkSize, Ack, WindowAckSize, SetPeerBandwidth, Abort).
func ParseUint32(m *Message) (uint32, error) {
	if len(m.Payload) < 4 {
		return 0, fmt.Errorf("rtmp: control message type %d too short (%d bytes)", m.Type, len(m.Payload))
	}
	return binary.BigEndian.Uint32(m.Payload), nil
}

// ParseUserControl returns a user control message's event type and value.
func ParseUserControl(m *Message) (event uint16, value uint32, err error) {
	if len(m.Payload) < 6 {
		return 0, 0, fmt.Errorf("rtmp: user control message too short (%d bytes)", len(m.Payload))
	}
	return binary.BigEndian.Uint16(m.Payload), binary.BigEndian.Uint32(m.Payload[2:]), nil
}
