package tap

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/delivery"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestAckLedgerLearnsTheSpacing(t *testing.T) {
	l := newAckLedger(16 << 10)
	for i := range uint32(20) {
		l.wrote(17500, at(time.Duration(i)*time.Second))
		l.ack((i+1)*17500, at(time.Duration(i)*time.Second+time.Millisecond))
	}
	s := l.look()
	require.Equal(t, int64(20), s.Acks)
	require.Equal(t, uint64(20*17500), s.Acked)
	require.InDelta(t, 17500, float64(s.Spacing), 100)

	big := newAckLedger(16 << 10) // a server with its own 2.5 MB window
	big.wrote(6<<20, t0)
	big.ack(2500000, t0)
	big.ack(5000000, t0)
	require.Equal(t, uint64(2500000), big.look().Spacing)
}

func TestAckLedgerSequenceNumbers(t *testing.T) {
	l := newAckLedger(1000)
	l.ack(0xffff_f000, t0)
	l.ack(0x0000_1000, at(time.Second)) // wrapped: 8 KiB later
	require.Equal(t, uint64(0x1_0000_1000), l.look().Acked)
	l.ack(0x0000_0800, at(2*time.Second)) // backwards: ignored
	l.ack(0x0000_1000, at(3*time.Second)) // repeated: ignored
	s := l.look()
	require.Equal(t, uint64(0x1_0000_1000), s.Acked)
	require.Equal(t, int64(2), s.Acks)
	require.Equal(t, at(time.Second), s.LastAck)
}

func TestAckLedgerStallClock(t *testing.T) {
	l := newAckLedger(16 << 10)
	require.Zero(t, l.look().StalledFor(at(time.Hour)), "no acks: no ack evidence")
	l.wrote(16<<10, t0)
	l.ack(16<<10, t0)
	l.wrote(10<<10, at(100*time.Millisecond)) // within a spacing: nothing owed
	require.True(t, l.look().Due.IsZero())
	l.wrote(10<<10, at(200*time.Millisecond)) // past a spacing: an ack is owed from here
	require.Equal(t, at(200*time.Millisecond), l.look().Due)
	require.Zero(t, l.look().StalledFor(at(5*time.Second)), "not more than two spacings wait")
	l.wrote(20<<10, at(300*time.Millisecond))
	require.Equal(t, 2800*time.Millisecond, l.look().StalledFor(at(3*time.Second)))
	l.ack(40<<10, at(3*time.Second)) // the server read on: the clock restarts
	s := l.look()
	require.Zero(t, s.StalledFor(at(4*time.Second)))
	require.Equal(t, uint64(16<<10), s.Queued())
}

func TestComposeWeighsTheEvidence(t *testing.T) {
	const timeout = 3 * time.Second
	acking := ackState{Written: 500 << 10, Acked: 100 << 10, Spacing: 16 << 10, Acks: 9, LastAck: t0, Due: at(100 * time.Millisecond)}
	tcpStalled := delivery.Reading{StalledFor: 4 * time.Second, Stalled: true, Pending: 300 << 10}
	cases := []struct {
		name     string
		a        ackState
		tcp      delivery.Reading
		now      time.Time
		stalled  bool
		evidence string
	}{
		{"acks owed past the timeout", acking, delivery.Reading{}, at(3200 * time.Millisecond), true, EvidenceAck},
		{"acks owed within the timeout", acking, tcpStalled, at(2 * time.Second), false, EvidenceAck},
		{"TCP stalled, acks stale", ackState{Written: 90 << 10, Acked: 80 << 10, Spacing: 16 << 10, Acks: 3, LastAck: t0}, tcpStalled, at(4 * time.Second), true, EvidenceTCP},
		{"TCP stalled, no acks ever", ackState{Written: 500 << 10}, tcpStalled, at(4 * time.Second), true, EvidenceTCP},
		{"healthy, no acks", ackState{Written: 500 << 10}, delivery.Reading{StalledFor: time.Second}, at(4 * time.Second), false, EvidenceTCP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := compose(c.a, c.tcp, c.now, timeout)
			require.Equal(t, c.stalled, r.Stalled, "%+v", r)
			require.Equal(t, c.evidence, r.Evidence)
			require.Equal(t, c.a.Acks > 0, r.AckSeen)
			if c.stalled {
				require.GreaterOrEqual(t, r.StalledFor, timeout)
				require.NotZero(t, r.Queued)
			}
		})
	}
}
