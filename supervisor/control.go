package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fmspush/fmspush/health"
)

// Command is an operator's request to a running stream.
type Command string

// The commands.
const (
	// CmdSwitch stops the active path cleanly and starts the other one now.
	CmdSwitch Command = "switch"
	// CmdPause stops publishing until CmdResume.
	CmdPause Command = "pause"
	// CmdResume starts the preferred path again after CmdPause.
	CmdResume Command = "resume"
	// CmdProbe probes the standby paths' targets now.
	CmdProbe Command = "probe"
)

// Commands are the commands a stream takes.
var Commands = []Command{CmdSwitch, CmdPause, CmdResume, CmdProbe}

// Reply is what a command did.
type Reply struct {
	// Did says it in a sentence.
	Did string `json:"did"`
}

// Errors of Do.
var (
	// ErrNotRunning: the stream's loop is not running (disabled, stopped).
	ErrNotRunning = errors.New("the stream is not running")
	// ErrNotApplicable: the command does not apply in the stream's state
	// (resume of a stream that is not paused, a switch with one path).
	ErrNotApplicable = errors.New("the command does not apply now")
	// ErrUnknownCommand: not one of Commands.
	ErrUnknownCommand = errors.New("unknown command")
)

// controlTimeout bounds how long Do waits for the loop to take a command.
const controlTimeout = 5 * time.Second

type request struct {
	cmd   Command
	reply chan<- replyOrErr
}

type replyOrErr struct {
	r   Reply
	err error
}

// Do asks the stream's loop to carry out cmd and returns what it did. The
// loop alone changes the stream's state; Do only hands the command over.
func (s *Stream) Do(ctx context.Context, cmd Command) (Reply, error) {
	ch := s.ctl.Load()
	if ch == nil {
		return Reply{}, ErrNotRunning
	}
	reply := make(chan replyOrErr, 1)
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	select {
	case *ch <- request{cmd: cmd, reply: reply}:
	case <-ctx.Done():
		return Reply{}, fmt.Errorf("the stream did not take the command: %w", ctx.Err())
	}
	select {
	case r := <-reply:
		return r.r, r.err
	case <-ctx.Done():
		return Reply{}, fmt.Errorf("the stream did not answer: %w", ctx.Err())
	}
}

// onCommand carries out one command in the loop.
func (l *loop) onCommand(ctx context.Context, req request, attempt Timer) {
	var r Reply
	var err error
	switch req.cmd {
	case CmdSwitch:
		r, err = l.cmdSwitch(attempt)
	case CmdPause:
		r, err = l.cmdPause(attempt)
	case CmdResume:
		r, err = l.cmdResume(attempt)
	case CmdProbe:
		r, err = l.cmdProbe(ctx)
	default:
		err = ErrUnknownCommand
	}
	if err == nil {
		l.log.Info("operator request", "command", req.cmd, "did", r.Did)
	}
	req.reply <- replyOrErr{r, err}
}

func (l *loop) cmdSwitch(attempt Timer) (Reply, error) {
	if l.paused {
		return Reply{}, fmt.Errorf("%w: the stream is paused (resume it first)", ErrNotApplicable)
	}
	cur := l.active
	if cur == nil {
		cur = l.pending
	}
	if cur == nil {
		cur = l.slots[0]
	}
	next := l.other(cur)
	if next == nil {
		return Reply{}, fmt.Errorf("%w: the stream has one path", ErrNotApplicable)
	}
	next.nextAttempt = time.Time{}
	l.pin = nil
	if next != l.slots[0] {
		l.pin = next
	}
	if l.active == nil {
		l.setState(health.StateStarting, fmt.Sprintf("starting %s by request", next.kind()))
		l.schedule(next, attempt)
		return Reply{Did: "starting " + next.kind() + " now"}, nil
	}
	l.switchTo, l.manual = next, true
	l.cancel()
	did := fmt.Sprintf("switching from %s to %s: %s unpublishes, then %s starts", cur.kind(), next.kind(), cur.kind(), next.kind())
	if l.pin != nil {
		did += fmt.Sprintf("; no failback to %s until switched back", l.slots[0].kind())
	}
	return Reply{Did: did}, nil
}

func (l *loop) cmdPause(attempt Timer) (Reply, error) {
	if l.paused {
		return Reply{}, fmt.Errorf("%w: already paused", ErrNotApplicable)
	}
	l.paused, l.pending, l.switchTo = true, nil, nil
	attempt.Stop()
	if l.active == nil {
		l.setState(health.StatePaused, "paused by request")
		return Reply{Did: "paused (no session was running)"}, nil
	}
	kind := l.active.kind()
	l.setState(l.state, "pausing by request: "+kind+" unpublishes")
	l.cancel()
	return Reply{Did: "pausing: the " + kind + " session unpublishes"}, nil
}

func (l *loop) cmdResume(attempt Timer) (Reply, error) {
	if !l.paused {
		return Reply{}, fmt.Errorf("%w: the stream is not paused", ErrNotApplicable)
	}
	l.paused, l.pin = false, nil
	pref := l.slots[0]
	pref.nextAttempt = time.Time{}
	l.setState(health.StateStarting, "resuming by request on "+pref.kind())
	l.schedule(pref, attempt)
	return Reply{Did: "resuming on " + pref.kind()}, nil
}

func (l *loop) cmdProbe(ctx context.Context) (Reply, error) {
	var kinds []string
	for _, sl := range l.slots {
		if !sl.probing && sl != l.active && sl != l.pending {
			kinds = append(kinds, sl.kind())
		}
	}
	if len(kinds) == 0 {
		return Reply{}, fmt.Errorf("%w: no standby path to probe now", ErrNotApplicable)
	}
	l.launchProbes(ctx)
	return Reply{Did: fmt.Sprintf("probing the target for %v; the results show in the status", kinds)}, nil
}
