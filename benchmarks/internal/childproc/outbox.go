package childproc

import (
	"encoding/json"
	"io"
)

// An Outbox writes a child's messages to its stdout, one JSON line each, from a
// goroutine of its own, so that a caller (a bus's handler, say) never waits for
// the pipe.
type Outbox[M any] struct {
	ch   chan M
	done chan struct{}
}

// NewOutbox starts writing the messages sent to it to w.
func NewOutbox[M any](w io.Writer) *Outbox[M] {
	o := &Outbox[M]{ch: make(chan M, 1024), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		enc := json.NewEncoder(w)
		for m := range o.ch {
			if enc.Encode(m) != nil {
				return // the parent is gone; stdin will close too
			}
		}
	}()
	return o
}

// Send queues m.
func (o *Outbox[M]) Send(m M) { o.ch <- m }

// Close writes what is queued and stops; Send must not be called after.
func (o *Outbox[M]) Close() {
	close(o.ch)
	<-o.done
}
