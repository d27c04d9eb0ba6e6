package rtmp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fmspush/fmspush/health"
)

// readLoop is the session's one reader: Conn acks and answers pings; commands
// go to Dial while it sets up and to OnStatus afterwards; a ReconnectRequest
// is kept for the owner whenever it comes.
func (p *Publisher) readLoop() {
	defer close(p.done)
	for {
		m, err := p.conn.ReadMessage()
		var le *LimitError
		if errors.As(err, &le) && !p.closing.Load() {
			p.fail(p.limitError(le, err)) // refused at its chunk header
			return
		}
		if err != nil {
			if !p.closing.Load() {
				p.fail(p.connectionError(err))
			}
			return
		}
		if m.Type != TypeCommandAMF0 {
			continue // control, data and unknown types are tolerated
		}
		c, err := ParseCommand(m)
		if errors.As(err, &le) && !p.closing.Load() {
			p.fail(p.limitError(le, err))
			return
		}
		if err != nil {
			continue
		}
		p.handleCommand(c)
	}
}

// limitError is the session's failure for a message beyond the bounds of
// amf.go and chunk.go, whether the chunk reader refused it at its header or
// ParseCommand at its values: the layer of the step under way (L4 once
// published). Such a message ends the session; it is never skipped.
func (p *Publisher) limitError(le *LimitError, err error) *Error {
	layer := health.Layer(p.step.Load())
	if p.publishAt.Load() != 0 {
		layer = health.LayerUpkeep
	}
	return p.newError(layer, le.Cause, err)
}

func (p *Publisher) handleCommand(c *Command) {
	st := c.Status()
	ignored := c.TransactionID == tidReleaseStream || c.TransactionID == tidFCPublish
	if (c.Name == "_error" && !ignored) || (c.Name == "onStatus" && st.Level != "status") {
		p.setWords(st)
	}
	if c.Name == "onStatus" && st.Code == CodeReconnectRequest && st.Level == "status" {
		tcURL, _ := c.ObjectArg(0).Get("tcUrl")
		p.noteReconnect(st, tcURL)
	}
	published := p.publishAt.Load() != 0
	if c.Name == "onStatus" && st.Code == "NetStream.Publish.Start" && !published {
		p.publishAt.Store(time.Now().UnixNano())
	}
	if !published {
		select {
		case p.cmds <- c:
		default: // Dial is not listening for this many; drop
		}
		return
	}
	if c.Name == "onStatus" && p.opts.OnStatus != nil {
		p.opts.OnStatus(st)
	}
}

// await waits for a command accepted by match, within the step's deadline.
// match returns done=true to stop, or an error to fail the step.
func (p *Publisher) await(ctx context.Context, layer health.Layer, what string, match func(*Command) (bool, *Error)) error {
	sctx, cancel := p.stepContext(ctx)
	defer cancel()
	for {
		select {
		case c := <-p.cmds:
			done, err := match(c)
			if err != nil {
				return err
			}
			if done {
				return nil
			}
		case <-p.conn.Replies():
			if err := p.conn.Flush(); err != nil {
				return p.connectionError(err)
			}
		case <-p.done:
			if done, err := p.drain(match); done || err != nil {
				return err
			}
			if err := p.Err(); err != nil {
				return err
			}
			return p.newError(layer, layer.Title()+"_closed", errors.New("connection closed"))
		case <-sctx.Done():
			return p.newError(layer, layer.Title()+"_"+netKind(sctx.Err()), fmt.Errorf("no answer to %s: %w", what, sctx.Err()))
		}
	}
}

// drain gives match the commands that arrived before the reader stopped.
func (p *Publisher) drain(match func(*Command) (bool, *Error)) (bool, error) {
	for {
		select {
		case c := <-p.cmds:
			done, err := match(c)
			if err != nil {
				return false, err
			}
			if done {
				return true, nil
			}
		default:
			return false, nil
		}
	}
}

func (p *Publisher) writeCommands(cmds ...*Command) error {
	ms := make([]*Message, len(cmds))
	for i, c := range cmds {
		csid, msid := CSIDCommand, uint32(0)
		if c.Name == "publish" {
			csid, msid = CSIDPublish, p.streamID
		}
		m, err := c.Message(csid, msid)
		if err != nil {
			return err
		}
		ms[i] = m
	}
	return p.conn.WriteMessages(ms...)
}

func (p *Publisher) connectObject() AMFObject {
	o := AMFObject{
		{Key: "app", Value: p.target.App + p.authQuery},
		{Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: p.opts.FlashVer},
	}
	if p.opts.SwfURL != "" {
		o = append(o, AMFObjectEntry{Key: "swfUrl", Value: p.opts.SwfURL})
	}
	o = append(o, AMFObjectEntry{Key: "tcUrl", Value: p.target.TCURL + p.authQuery})
	if p.opts.PageURL != "" {
		o = append(o, AMFObjectEntry{Key: "pageUrl", Value: p.opts.PageURL})
	}
	if p.opts.Reconnect {
		// Enhanced RTMP v2: after the legacy properties.
		o = append(o, AMFObjectEntry{Key: "capsEx", Value: float64(CapsExReconnect)})
	}
	return o
}

// connect sends connect and waits for NetConnection.Connect.Success.
func (p *Publisher) connect(ctx context.Context) error {
	p.step.Store(uint32(health.LayerConnect))
	err := p.writeCommands(&Command{Name: "connect", TransactionID: tidConnect, Args: []any{p.connectObject()}})
	if err != nil {
		return p.connectionError(err)
	}
	err = p.await(ctx, health.LayerConnect, "connect", func(c *Command) (bool, *Error) {
		st := c.Status()
		switch {
		case c.Name == "_result" && c.TransactionID == tidConnect:
			if st.Code != "" && st.Code != "NetConnection.Connect.Success" {
				return false, p.newError(health.LayerConnect, "connect_rejected", errors.New(st.String()))
			}
			p.connected = st
			p.fmsVer, _ = c.ObjectArg(0).GetString("fmsVer")
			return true, nil
		case c.Name == "_error" && c.TransactionID == tidConnect, c.Name == "onStatus" && st.Level == "error":
			desc := st.Description
			p.rejected = &desc
			return false, p.newError(health.LayerConnect, "connect_rejected", errors.New(st.String()))
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if err := p.conn.SetOutChunkSize(p.opts.ChunkSize); err != nil {
		return p.connectionError(err)
	}
	if p.opts.AckWindow > 0 {
		if err := p.conn.WriteMessage(WindowAckSizeMessage(p.opts.AckWindow)); err != nil {
			return p.connectionError(err)
		}
	}
	return nil
}

// publish sends releaseStream, FCPublish and createStream in one segment,
// then publish on the returned stream id, and waits for Publish.Start.
func (p *Publisher) publish(ctx context.Context) error {
	p.step.Store(uint32(health.LayerPublish))
	name := p.target.StreamName
	err := p.writeCommands(
		&Command{Name: "releaseStream", TransactionID: tidReleaseStream, Args: []any{nil, name}},
		&Command{Name: "FCPublish", TransactionID: tidFCPublish, Args: []any{nil, name}},
		&Command{Name: "createStream", TransactionID: tidCreateStream, Args: []any{nil}},
	)
	if err != nil {
		return p.connectionError(err)
	}
	if err := p.await(ctx, health.LayerPublish, "createStream", p.matchCreateStream); err != nil {
		return err
	}
	err = p.writeCommands(&Command{Name: "publish", TransactionID: tidPublish, Args: []any{nil, name, p.opts.PublishType}})
	if err != nil {
		return p.connectionError(err)
	}
	return p.await(ctx, health.LayerPublish, "publish", p.matchPublishStart)
}

func (p *Publisher) matchCreateStream(c *Command) (bool, *Error) {
	if c.TransactionID != tidCreateStream {
		return false, nil // _error for releaseStream/FCPublish is ignored, like ffmpeg
	}
	switch c.Name {
	case "_result":
		id, ok := c.Arg(1).(float64)
		if !ok || id < 0 || id > 0xFFFFFFFF {
			return false, p.newError(health.LayerPublish, "create_stream_failed", fmt.Errorf("createStream result %v", c.Args))
		}
		p.streamID = uint32(id)
		return true, nil
	case "_error":
		return false, p.newError(health.LayerPublish, "create_stream_failed", errors.New(c.Status().String()))
	}
	return false, nil
}

func (p *Publisher) matchPublishStart(c *Command) (bool, *Error) {
	st := c.Status()
	switch {
	case c.Name == "onStatus" && st.Code == "NetStream.Publish.Start":
		p.published = st
		return true, nil
	case c.Name == "onStatus" && (st.Level == "error" || strings.Contains(st.Code, "Publish.BadName")):
		return false, p.newError(health.LayerPublish, publishCause(st), errors.New(st.String()))
	case c.Name == "_error" && c.TransactionID == tidPublish:
		return false, p.newError(health.LayerPublish, publishCause(st), errors.New(st.String()))
	}
	return false, nil
}

// publishCause names a publish refusal. A name held by another session
// ("KEY is already publishing", nginx-rtmp and SRS) is "name_locked": it
// frees when the server drops the stale session.
func publishCause(st StatusInfo) string {
	d := strings.ToLower(st.Description)
	if strings.Contains(d, "already") && strings.Contains(d, "publish") {
		return "name_locked"
	}
	if strings.Contains(st.Code, "BadName") {
		return "publish_bad_name"
	}
	return "publish_rejected"
}

// Close ends the session and its connection, whatever state it is in. A
// healthy publish ends cleanly: FCUnpublish and deleteStream, a half-close,
// a short wait (CloseTimeout) for the server to close its side so that
// nothing we sent is lost. A session that failed, or whose server does not
// close within CloseTimeout (it stopped reading), is reset (RST): a
// half-dead connection left open would keep the stream name locked at
// servers that refuse a second publisher. Close returns the session's
// error if it had failed before.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		failed := p.Err() != nil
		p.closing.Store(true)
		clean := !failed
		if clean && p.publishAt.Load() != 0 {
			clean = p.goodbye()
		}
		if !clean {
			p.setResetOnClose()
		}
		p.conn.Close()
		<-p.done
	})
	return p.Err()
}

// Reset ends the connection at once with a TCP RST, sending nothing more:
// for a session whose server stopped taking data (a stall), where a clean
// goodbye would only queue behind what the server never read.
func (p *Publisher) Reset() {
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		p.setResetOnClose()
		p.conn.Close()
		<-p.done
	})
}

// setResetOnClose makes the next close send a RST (SO_LINGER 0).
func (p *Publisher) setResetOnClose() {
	if p.tcp != nil {
		p.tcp.SetLinger(0)
	}
}

// goodbye unpublishes and half-closes; it reports whether the server then
// closed its side within CloseTimeout.
func (p *Publisher) goodbye() bool {
	deadline := time.Now().Add(p.opts.CloseTimeout)
	name := p.target.StreamName
	err := p.writeCommands(
		&Command{Name: "FCUnpublish", TransactionID: float64(p.nextTID.Add(1)), Args: []any{nil, name}},
		&Command{Name: "deleteStream", TransactionID: float64(p.nextTID.Add(1)), Args: []any{nil, float64(p.streamID)}},
	)
	if err != nil {
		return false
	}
	if cw, ok := p.conn.NetConn().(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// ConnectInfo is what the server answered to connect: the _result status
// and its fmsVer (empty if absent).
func (p *Publisher) ConnectInfo() (status StatusInfo, fmsVer string) { return p.connected, p.fmsVer }

// PublishInfo is the NetStream.Publish.Start status the server sent.
func (p *Publisher) PublishInfo() StatusInfo { return p.published }

// StreamID is the message stream id the server returned from createStream.
func (p *Publisher) StreamID() uint32 { return p.streamID }

// Target is the (overridden) publish target; print it with String (redacted).
func (p *Publisher) Target() Target { return *p.target }

// Handshake is what the handshake learned about the server.
func (p *Publisher) Handshake() HandshakeResult { return p.hs }

// publishedAt is when NetStream.Publish.Start arrived.
func (p *Publisher) publishedAt() time.Time { return time.Unix(0, p.publishAt.Load()) }

// Conn is the underlying connection (for counters; do not read from it).
func (p *Publisher) Conn() *Conn { return p.conn }

// Stats returns the session's counters.
func (p *Publisher) Stats() Stats {
	return Stats{
		BytesWritten:  p.conn.BytesWritten(),
		BytesRead:     p.conn.BytesRead(),
		VideoFrames:   p.video.Load(),
		AudioFrames:   p.audio.Load(),
		AcksReceived:  p.conn.AcksReceived(),
		LastAck:       p.conn.LastAck(),
		AcksSent:      p.conn.AcksSent(),
		PingsAnswered: p.conn.PingsAnswered(),
		LastTimestamp: p.lastTS.Load(),
	}
}
