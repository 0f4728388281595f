package fresh_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/freshcache/fresh"
)

// A value depends on an entity; invalidating the entity after a write removes it.
func Example() {
	ctx := context.Background()
	titles, _ := fresh.New(fresh.Options[int, string]{})
	defer titles.Close(ctx)

	db := map[int]string{42: "Hello"}
	load := func(ctx context.Context, id int) (string, error) {
		fresh.Depend(ctx, fresh.Entity("articles", id))
		return db[id], nil
	}
	t, _ := titles.GetOrLoad(ctx, 42, load)
	fmt.Println(t)

	db[42] = "Hello, world"                                  // the write commits,
	_ = titles.Invalidate(ctx, fresh.Entity("articles", 42)) // then its invalidation
	t, _ = titles.GetOrLoad(ctx, 42, load)
	fmt.Println(t)
	// Output:
	// Hello
	// Hello, world
}

// A row change invalidates the entity, the table, and the scopes its old and new
// versions belong to: a list of published Go articles learns about a new one.
func ExampleCache_InvalidateRows() {
	ctx := context.Background()
	lists, _ := fresh.New(fresh.Options[string, []string]{
		Tables: []fresh.TableSchema{{Table: "articles", Scopes: [][]string{{"category", "published"}}}},
	})
	defer lists.Close(ctx)

	published := []string{"Generics"}
	goList := fresh.Scope("articles", fresh.Eq("category", "go"), fresh.Eq("published", true))
	load := func(ctx context.Context, _ string) ([]string, error) {
		fresh.Depend(ctx, goList)
		return append([]string(nil), published...), nil
	}
	l, _ := lists.GetOrLoad(ctx, "go", load)
	fmt.Println(l)

	published = append(published, "Iterators") // an insert enters the scope
	_ = lists.InvalidateRows(ctx, fresh.RowChange{
		Table: "articles",
		New:   fresh.Row{"id": 2, "category": "go", "published": true},
	})
	l, _ = lists.GetOrLoad(ctx, "go", load)
	fmt.Println(l)
	// Output:
	// [Generics]
	// [Generics Iterators]
}

// A loader returning ErrNotFound caches the absence, told apart from a zero value.
func ExampleErrNotFound() {
	ctx := context.Background()
	users, _ := fresh.New(fresh.Options[string, int]{})
	defer users.Close(ctx)

	_, err := users.GetOrLoad(ctx, "nobody", func(context.Context, string) (int, error) {
		return 0, fresh.ErrNotFound
	})
	fmt.Println(errors.Is(err, fresh.ErrNotFound))
	// Output: true
}

// Values built from other cached values depend on theirs: invalidating the author
// invalidates the page that shows it.
func ExampleDepend_nested() {
	ctx := context.Background()
	// Both caches are in the default hub, so they share invalidations.
	authors, _ := fresh.New(fresh.Options[int, string]{})
	pages, _ := fresh.New(fresh.Options[string, string]{})
	defer authors.Close(ctx)
	defer pages.Close(ctx)

	name := "Ada"
	author := func(ctx context.Context, id int) (string, error) {
		fresh.Depend(ctx, fresh.Entity("authors", id))
		return name, nil
	}
	page := func(ctx context.Context, _ string) (string, error) {
		a, err := authors.GetOrLoad(ctx, 1, author)
		return "by " + a, err
	}
	p, _ := pages.GetOrLoad(ctx, "home", page)
	fmt.Println(p)
	name = "Ada Lovelace"
	_ = authors.Invalidate(ctx, fresh.Entity("authors", 1))
	p, _ = pages.GetOrLoad(ctx, "home", page)
	fmt.Println(p)
	// Output:
	// by Ada
	// by Ada Lovelace
}

// Caches in different processes share invalidations through a Bus; here two hubs in
// one process stand for two processes.
func ExampleNewLocalBus() {
	ctx := context.Background()
	bus := fresh.NewLocalBus()
	defer bus.Close()
	hubA, _ := fresh.NewHub(fresh.HubOptions{Bus: bus})
	hubB, _ := fresh.NewHub(fresh.HubOptions{Bus: bus})
	defer hubA.Close(ctx)
	defer hubB.Close(ctx)
	a, _ := fresh.New(fresh.Options[string, int]{Hub: hubA, Name: "settings"})
	b, _ := fresh.New(fresh.Options[string, int]{Hub: hubB, Name: "settings"})

	_ = b.Set(ctx, "k", 1, fresh.DependsOn(fresh.Tag("config")))
	_ = a.Invalidate(ctx, fresh.Tag("config"))
	_ = b.Set(ctx, "sync", 0, fresh.DependsOn(fresh.Tag("marker")))
	_ = a.Invalidate(ctx, fresh.Tag("marker"))
	for { // delivery is asynchronous; messages arrive in order
		if _, ok := b.Get("sync"); !ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	_, ok := b.Get("k")
	fmt.Println(ok)
	// Output: false
}
