package freshsqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/freshcache/fresh/freshsqlite"
)

// printer is a fresh.Handler that prints what it receives.
type printer struct{ done chan struct{} }

func (p printer) HandleMessage(msg []byte) {
	fmt.Printf("received %q\n", msg)
	close(p.done)
}

func (p printer) HandleLoss(err error) { fmt.Println("loss:", err) }

// Two buses on one file, as two processes would open it: a message published on one
// reaches a subscriber of the other.
func ExampleOpenURL() {
	dir, err := os.MkdirTemp("", "freshsqlite-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(dir) }()
	url := "sqlite:" + filepath.Join(dir, "bus.db")
	ctx := context.Background()

	reader, err := freshsqlite.OpenURL(ctx, url, freshsqlite.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reader.Close()
	writer, err := freshsqlite.OpenURL(ctx, url, freshsqlite.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer writer.Close()

	p := printer{done: make(chan struct{})}
	if _, err := reader.Subscribe(ctx, p); err != nil {
		fmt.Println(err)
		return
	}
	if err := writer.Publish(ctx, []byte("invalidate user:42")); err != nil {
		fmt.Println(err)
		return
	}
	<-p.done
	// Output: received "invalidate user:42"
}
