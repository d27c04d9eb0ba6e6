package rtmp

import (
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scriptServer is a real RTMP server on loopback built from this package's
// server primitives (ServerHandshake, Conn), scripted per test to reproduce
// what strict ingest does at each layer.
type scriptServer struct {
	t  *testing.T
	l  net.Listener
	wg sync.WaitGroup

	RequireDigest bool
	StreamID      uint32
	// ConnectError, if set, answers connect with _error and this code.
	ConnectError string
	// PublishError, if set, answers publish with onStatus level error and this code.
	PublishError string
	// SilentConnect never answers connect.
	SilentConnect bool
	// CloseAfterPublish closes the connection this long after Publish.Start.
	CloseAfterPublish time.Duration
	// ResetOnFirstVideo resets the connection when the first video frame (not header) arrives.
	ResetOnFirstVideo bool
	// Window is the WindowAckSize sent after connect (2500000 if 0).
	Window uint32
	// AfterPublish runs once right after Publish.Start was sent.
	AfterPublish func(c *Conn) error

	mu       sync.Mutex
	msgs     []*Message
	hs       ServerHandshakeResult
	hsErr    error
	sni      string
	finished chan struct{}
}

func newScriptServer(t *testing.T, configure func(*scriptServer)) *scriptServer {
	s := &scriptServer{t: t, StreamID: 1, finished: make(chan struct{})}
	if configure != nil {
		configure(s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.l = l
	s.start()
	return s
}

// newTLSScriptServer serves rtmps with a certificate for "localhost".
func newTLSScriptServer(t *testing.T, cert tls.Certificate, configure func(*scriptServer)) *scriptServer {
	s := &scriptServer{t: t, StreamID: 1, finished: make(chan struct{})}
	if configure != nil {
		configure(s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.l = tls.NewListener(l, &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			s.sni = h.ServerName
			s.mu.Unlock()
			return nil, nil
		},
	})
	s.start()
	return s
}

func (s *scriptServer) start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.finished)
		nc, err := s.l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		s.serve(nc)
	}()
	s.t.Cleanup(func() { s.l.Close(); s.wg.Wait() })
}

func (s *scriptServer) port() int { return s.l.Addr().(*net.TCPAddr).Port }

func (s *scriptServer) url(path string) string {
	return "rtmp://127.0.0.1:" + strconv.Itoa(s.port()) + "/" + path
}

func (s *scriptServer) handshake() (ServerHandshakeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hs, s.hsErr
}

func (s *scriptServer) messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.msgs...)
}

func (s *scriptServer) serve(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	if tc, ok := nc.(*tls.Conn); ok {
		if tc.Handshake() != nil {
			return
		}
	}
	hs, err := ServerHandshake(nc, ServerHandshakeOptions{RequireDigest: s.RequireDigest})
	s.mu.Lock()
	s.hs, s.hsErr = hs, err
	s.mu.Unlock()
	if err != nil {
		return
	}
	c := NewConn(nc, ConnOptions{})
	var publishedAt time.Time
	for {
		if !publishedAt.IsZero() && s.CloseAfterPublish > 0 {
			nc.SetReadDeadline(publishedAt.Add(s.CloseAfterPublish))
		}
		m, err := c.ReadMessage()
		if err != nil {
			s.t.Logf("server read: %v", err)
			return
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		s.mu.Unlock()
		if m.Type == TypeVideo && s.ResetOnFirstVideo && len(m.Payload) > 1 && m.Payload[1] == 1 {
			nc.(*net.TCPConn).SetLinger(0)
			return
		}
		if m.Type != TypeCommandAMF0 {
			continue
		}
		cmd, err := ParseCommand(m)
		if err != nil {
			return
		}
		if !s.answer(c, cmd) {
			return
		}
		if cmd.Name == "publish" && s.PublishError == "" {
			publishedAt = time.Now()
			if s.AfterPublish != nil && s.AfterPublish(c) != nil {
				return
			}
		}
	}
}

func status(level, code string) AMFObject {
	return AMFObject{{Key: "level", Value: level}, {Key: "code", Value: code}, {Key: "description", Value: code}}
}

func (s *scriptServer) send(c *Conn, csid, msid uint32, cmd *Command) bool {
	m, err := cmd.Message(csid, msid)
	require.NoError(s.t, err)
	return c.WriteMessage(m) == nil
}

// answer replies to a command like FMS would; false ends the session.
func (s *scriptServer) answer(c *Conn, cmd *Command) bool {
	switch cmd.Name {
	case "connect":
		return s.answerConnect(c, cmd)
	case "createStream":
		return s.send(c, CSIDCommand, 0, &Command{Name: "_result", TransactionID: cmd.TransactionID, Args: []any{nil, float64(s.StreamID)}})
	case "releaseStream":
		return s.send(c, CSIDCommand, 0, &Command{Name: "_error", TransactionID: cmd.TransactionID, Args: []any{nil, status("error", "NetConnection.Call.Failed")}})
	case "publish":
		if s.PublishError != "" {
			s.send(c, 5, s.StreamID, &Command{Name: "onStatus", Args: []any{nil, status("error", s.PublishError)}})
			return true
		}
		return s.send(c, 5, s.StreamID, &Command{Name: "onStatus", Args: []any{nil, status("status", "NetStream.Publish.Start")}})
	}
	return true
}

func (s *scriptServer) answerConnect(c *Conn, cmd *Command) bool {
	if s.SilentConnect {
		return true
	}
	if s.ConnectError != "" {
		s.send(c, CSIDCommand, 0, &Command{Name: "_error", TransactionID: cmd.TransactionID, Args: []any{nil, status("error", s.ConnectError)}})
		return true
	}
	window := s.Window
	if window == 0 {
		window = 2500000
	}
	ok := c.WriteMessages(WindowAckSizeMessage(window), SetPeerBandwidthMessage(2500000, 2)) == nil
	ok = ok && c.SetOutChunkSize(4096) == nil
	return ok && s.send(c, CSIDCommand, 0, &Command{Name: "_result", TransactionID: cmd.TransactionID,
		Args: []any{AMFObject{{Key: "fmsVer", Value: "FMS/3,5,7,7009"}}, status("status", "NetConnection.Connect.Success")}})
}

// commands returns the decoded commands the server received, in order.
func (s *scriptServer) commands() []*Command {
	var out []*Command
	for _, m := range s.messages() {
		if m.Type == TypeCommandAMF0 {
			c, err := ParseCommand(m)
			if err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var re *Error
	require.True(t, errors.As(err, &re), "error %v (%T) is not an *rtmp.Error", err, err)
	return re
}
