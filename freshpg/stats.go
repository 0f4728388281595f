package freshpg

import "sync/atomic"

// Stats is a snapshot of a Bus's counters, all since the bus was made.
type Stats struct {
	// Published counts the messages that Publish, PublishTx and PublishSQLTx
	// wrote (for the transactional ones: whether or not the transaction then
	// committed).
	Published uint64
	// PublishErrors counts the publishes that failed.
	PublishErrors uint64
	// Trims counts the trims that ran, TrimErrors those that failed.
	Trims, TrimErrors uint64
	// Delivered counts the handler calls with a message, over every subscription.
	Delivered uint64
	// Losses counts the handler calls with a loss, over every subscription.
	Losses uint64
	// MalformedRows counts the rows of the table that this package did not write
	// (each also a loss).
	MalformedRows uint64
	// GarbageNotifications counts the notifications on the bus's channel whose
	// payload no publisher of this package sent. They are no loss: the table
	// carries the messages.
	GarbageNotifications uint64
	// Reconnects counts the listening connections that subscriptions opened again
	// after a failure.
	Reconnects uint64
	// Polls counts the reads of the table.
	Polls uint64
}

// stats holds the live counters behind Stats.
type stats struct {
	published, publishErrors, trims, trimErrors, delivered, losses atomic.Uint64
	malformedRows, garbageNotifications, reconnects, polls         atomic.Uint64
}

// Stats returns a snapshot of the bus's counters.
func (b *Bus) Stats() Stats {
	s := &b.stats
	return Stats{
		Published:            s.published.Load(),
		PublishErrors:        s.publishErrors.Load(),
		Trims:                s.trims.Load(),
		TrimErrors:           s.trimErrors.Load(),
		Delivered:            s.delivered.Load(),
		Losses:               s.losses.Load(),
		MalformedRows:        s.malformedRows.Load(),
		GarbageNotifications: s.garbageNotifications.Load(),
		Reconnects:           s.reconnects.Load(),
		Polls:                s.polls.Load(),
	}
}
