package rtmp

import (
	"github.com/fmspush/fmspush/media"
)

// FLV video tag packet types that isCodedFrame tells apart.
const (
	flvPacketNALU       = 1 // AVCPacketType / legacy HEVC: coded frames
	exPacketCodedFrames = 1 // Enhanced RTMP: coded frames
)

// SetDataFrame is the TypeDataAMF0 payload "@setDataFrame", "onMetaData", ECMA array.
func SetDataFrame(md media.Metadata) ([]byte, error) {
	return EncodeAMF("@setDataFrame", "onMetaData", md.ECMAArray())
}
