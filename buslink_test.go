package fresh

import (
	"context"
	"testing"

	"github.com/freshcache/fresh/internal/wire"
)

// FuzzHandleMessage: whatever arrives on the bus, the cache does not panic, and a
// message it cannot read is dropped or treated as a loss, never applied.
func FuzzHandleMessage(f *testing.F) {
	for _, m := range []wire.Message{
		{Kind: wire.KindInvalidate, Seq: 1, Items: []string{"tag:a"}},
		{Kind: wire.KindDelete, Seq: 2, Namespace: "default", Items: []string{"k"}},
		{Kind: wire.KindPattern, Seq: 3, Namespace: "default", Items: []string{"k*"}},
		{Kind: wire.KindFlush, Seq: 4, Namespace: "default"},
		{Kind: wire.KindHeartbeat, Seq: 5, Stamp: 7},
	} {
		b, err := wire.Append(nil, &m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	bus := NewLocalBus()
	h, err := NewHub(HubOptions{Bus: bus})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := New(Options[int, int]{Hub: h, Name: "default"}); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close(context.Background()); bus.Close() })
	f.Fuzz(func(t *testing.T, msg []byte) {
		h.link.HandleMessage(msg)
	})
}
