package rtmp

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// Commands encode and decode through amf0, integers become numbers, and the
// status info is found in the arguments.
func TestCommandRoundTrip(t *testing.T) {
	c := &Command{Name: "onStatus", TransactionID: 0, Args: []any{nil, AMFObject{
		{Key: "level", Value: "error"}, {Key: "code", Value: "NetStream.Publish.BadName"},
		{Key: "description", Value: "bad"}, {Key: "n", Value: 3},
	}}}
	m, err := c.Message(CSIDCommand, 1)
	require.NoError(t, err)
	got, err := ParseCommand(m)
	require.NoError(t, err)
	require.Equal(t, "onStatus", got.Name)
	require.Equal(t, StatusInfo{Level: "error", Code: "NetStream.Publish.BadName", Description: "bad"}, got.Status())
	n, _ := got.ObjectArg(0).GetFloat64("n")
	require.Equal(t, 3.0, n)
}

// Deep nesting is refused before amf0 recurses into it.
func TestDecodeAMFDepth(t *testing.T) {
	deep := append(bytes.Repeat([]byte{0x0A, 0, 0, 0, 1}, MaxAMFDepth+5), 0x05)
	_, err := DecodeAMF(deep)
	require.ErrorIs(t, err, errAMFTooDeep)
	ok := append(bytes.Repeat([]byte{0x0A, 0, 0, 0, 1}, 10), 0x05)
	_, err = DecodeAMF(ok)
	require.NoError(t, err)
}
