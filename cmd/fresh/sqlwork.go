package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// The SQL demo's blog: its schema, its seed, what readers ask and what writers do.

const (
	seedAuthors  = 12
	seedArticles = 120
	seedComments = 360
	hotArticles  = 40 // most article reads go to the first hotArticles
)

var blogSchema = []string{
	`CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`,
	`CREATE TABLE articles (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES authors (id),
		title TEXT NOT NULL, published INTEGER NOT NULL)`,
	`CREATE TABLE comments (id INTEGER PRIMARY KEY, article_id INTEGER NOT NULL REFERENCES articles (id),
		body TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT (datetime('now')))`,
	`CREATE INDEX articles_author ON articles (author_id)`,
	`CREATE INDEX comments_article ON comments (article_id)`,
}

// A queryKind is one SQL text the readers run; its argument is an author's id,
// an article's id, or none.
type queryKind struct {
	name   string
	sql    string
	tables []string // what it reads, for the table-level comparison
	arg    argKind
	weight int // out of the sum of weights
	// volatile marks the text freshsql must not cache: probes leave it out.
	volatile bool
}

type argKind uint8

const (
	argNone argKind = iota
	argAuthor
	argArticle
)

var queryKinds = []*queryKind{
	{"articles-of-author", `SELECT id, title, published FROM articles WHERE author_id = ? ORDER BY id`, []string{"articles"}, argAuthor, 14, false},
	{"published-of-author", `SELECT id, title FROM articles WHERE author_id = ? AND published = 1 ORDER BY id`, []string{"articles"}, argAuthor, 10, false},
	{"comments-of-article", `SELECT id, body FROM comments WHERE article_id = ? ORDER BY id`, []string{"comments"}, argArticle, 16, false},
	{"comment-count", `SELECT count(*) FROM comments WHERE article_id = ?`, []string{"comments"}, argArticle, 14, false},
	{"article-count", `SELECT count(*) FROM articles WHERE author_id = ?`, []string{"articles"}, argAuthor, 8, false},
	{"articles-with-author", `SELECT ar.id, ar.title, au.name FROM articles ar JOIN authors au ON au.id = ar.author_id
		WHERE ar.author_id = ? ORDER BY ar.id`, []string{"articles", "authors"}, argAuthor, 10, false},
	{"article", `SELECT id, author_id, title, published FROM articles WHERE id = ?`, []string{"articles"}, argArticle, 26, false},
	// Not cacheable (it calls datetime('now')): the report says so.
	{"comments-today", `SELECT count(*) FROM comments WHERE created_at >= datetime('now', '-1 day')`, []string{"comments"}, argNone, 2, true},
}

// A query is a query kind with its argument.
type query struct {
	kind *queryKind
	arg  int64
}

func (q query) String() string {
	if q.kind.arg == argNone {
		return q.kind.name
	}
	return fmt.Sprintf("%s(%d)", q.kind.name, q.arg)
}

func (q query) args() []any {
	if q.kind.arg == argNone {
		return nil
	}
	return []any{q.arg}
}

// pick chooses what a reader reads next.
func (d *sqlDemo) pick(r *rand.Rand) query {
	total := 0
	for _, k := range queryKinds {
		total += k.weight
	}
	n := r.IntN(total)
	kind := queryKinds[0]
	for _, k := range queryKinds {
		if n < k.weight {
			kind = k
			break
		}
		n -= k.weight
	}
	q := query{kind: kind}
	switch kind.arg {
	case argAuthor:
		q.arg = 1 + r.Int64N(int64(d.authors))
	case argArticle:
		n := d.maxArticle.Load()
		if r.IntN(10) < 7 {
			n = min(n, hotArticles)
		}
		q.arg = 1 + r.Int64N(n)
	}
	return q
}

// seed creates the schema and fills it, around freshsql.
func (d *sqlDemo) seed(ctx context.Context, r *rand.Rand) error {
	tx, err := d.raw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, s := range blogSchema {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("create the schema: %w", err)
		}
	}
	d.authors = seedAuthors
	for id := 1; id <= seedAuthors; id++ {
		if _, err := tx.ExecContext(ctx, `INSERT INTO authors (id, name) VALUES (?, ?)`, id, fmt.Sprintf("author %d", id)); err != nil {
			return fmt.Errorf("seed authors: %w", err)
		}
	}
	d.model = make(map[int64]*articleRow, seedArticles)
	for id := int64(1); id <= seedArticles; id++ {
		a := &articleRow{author: 1 + r.Int64N(seedAuthors), published: int64(r.IntN(2))}
		d.model[id] = a
		if _, err := tx.ExecContext(ctx, `INSERT INTO articles (id, author_id, title, published) VALUES (?, ?, ?, ?)`,
			id, a.author, fmt.Sprintf("article %d", id), a.published); err != nil {
			return fmt.Errorf("seed articles: %w", err)
		}
	}
	for i := range seedComments {
		if _, err := tx.ExecContext(ctx, `INSERT INTO comments (article_id, body) VALUES (?, ?)`,
			1+r.Int64N(seedArticles), fmt.Sprintf("comment %d", i)); err != nil {
			return fmt.Errorf("seed comments: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	d.nextID = seedArticles + 1
	d.maxArticle.Store(seedArticles)
	return nil
}

// evictionEvery is how often a write is measured: the entries live before and
// after it are probed while the readers wait, which costs them a few
// milliseconds each time.
const evictionEvery = 250 * time.Millisecond

// execer is what the writes run on: the *sql.DB through freshsql, or (tests)
// the one around it, or a transaction of either.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// writeOne makes one write: an autocommit INSERT or UPDATE, or a transaction
// that commits or rolls back. The UPDATEs pin the scope columns of the article
// (author_id, published) in their WHERE clause, so that freshsql invalidates the
// scopes of that author only. Writers take turns: the model is theirs.
func (d *sqlDemo) writeOne(ctx context.Context, r *rand.Rand) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	db := d.db
	if d.cfg.skipInvalidation {
		db = d.raw
	}
	id := 1 + r.Int64N(d.nextID-1)
	a := d.model[id]
	title := fmt.Sprintf("article %d, take %d", id, r.IntN(1_000_000))
	comment := fmt.Sprintf("comment %d", r.IntN(1_000_000))
	const (
		insertComment = `INSERT INTO comments (article_id, body) VALUES (?, ?)`
		updateTitle   = `UPDATE articles SET title = ? WHERE id = ? AND author_id = ? AND published = ?`
		setPublished  = `UPDATE articles SET published = ? WHERE id = ? AND author_id = ? AND published = ?`
		insertArticle = `INSERT INTO articles (id, author_id, title, published) VALUES (?, ?, ?, ?)`
	)
	autocommit := func(tables []string, query string, args ...any) error {
		return d.clock.commit(func() error {
			_, err := db.ExecContext(ctx, query, args...)
			return err
		}, d.measurer(ctx, tables))
	}

	var err error
	switch op := r.IntN(100); {
	case op < 35:
		err = autocommit([]string{"comments"}, insertComment, id, comment)
	case op < 55:
		err = autocommit([]string{"articles"}, updateTitle, title, id, a.author, a.published)
	case op < 70:
		err = autocommit([]string{"articles"}, setPublished, 1-a.published, id, a.author, a.published)
		if err == nil {
			a.published = 1 - a.published
		}
	case op < 85: // a new article and its first comment, in one transaction
		nw := &articleRow{author: 1 + r.Int64N(int64(d.authors)), published: int64(r.IntN(2))}
		err = d.inTx(ctx, db, true, []string{"articles", "comments"}, func(tx execer) error {
			if _, err := tx.ExecContext(ctx, insertArticle, d.nextID, nw.author, fmt.Sprintf("article %d", d.nextID), nw.published); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, insertComment, d.nextID, comment)
			return err
		})
		if err == nil {
			d.model[d.nextID] = nw
			d.maxArticle.Store(d.nextID)
			d.nextID++
		}
	default: // an edit and a comment, rolled back: nothing to invalidate
		err = d.inTx(ctx, db, false, nil, func(tx execer) error {
			if _, err := tx.ExecContext(ctx, updateTitle, title, id, a.author, a.published); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, insertComment, id, comment)
			return err
		})
		if err == nil {
			d.rolledBack.Add(1)
		}
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	d.writes.Add(1)
	return nil
}

// inTx runs f in a transaction of db, then commits it (through the clock) or
// rolls it back.
func (d *sqlDemo) inTx(ctx context.Context, db *sql.DB, commit bool, tables []string, f func(execer) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if !commit {
		return tx.Rollback()
	}
	return d.clock.commit(tx.Commit, d.measurer(ctx, tables))
}

// evictionTally adds up the measured writes.
type evictionTally struct {
	writes     int // writes measured
	live       int // entries live before them
	freshsql   int // entries that were live before and not after
	tableLevel int // entries live before whose query reads a table the write touched
}

// measurer returns the measure of a write that touches tables, when it is time
// to measure one; nil otherwise. It runs with the writers' lock held.
func (d *sqlDemo) measurer(ctx context.Context, tables []string) func(after bool) error {
	if time.Since(d.lastMark) < evictionEvery {
		return nil
	}
	d.lastMark = time.Now()
	var before []query
	return func(after bool) error {
		live, err := d.probe(ctx)
		if err != nil {
			return fmt.Errorf("probe the cache: %w", err)
		}
		if !after {
			before = live
			return nil
		}
		t := &d.evict
		t.writes++
		t.live += len(before)
		for _, q := range before {
			if slices.ContainsFunc(q.kind.tables, func(tb string) bool { return slices.Contains(tables, tb) }) {
				t.tableLevel++
			}
			if !slices.Contains(live, q) {
				t.freshsql++
			}
		}
		return nil
	}
}

// probe returns the queries whose results are cached now, among those a reader
// has loaded (freshsql's Connector.Contains: it runs and loads nothing, so the
// probe changes nothing).
func (d *sqlDemo) probe(context.Context) ([]query, error) {
	var live []query
	for _, q := range d.loadedQueries() {
		if d.conn.Contains(q.kind.sql, q.args()...) {
			live = append(live, q)
		}
	}
	return live, nil
}

// loadedQueries returns the queries that readers have loaded at least once: the
// only ones that can be cached.
func (d *sqlDemo) loadedQueries() []query {
	var out []query
	d.loaded.Range(func(k, _ any) bool {
		if q, ok := k.(query); ok {
			out = append(out, q)
		}
		return true
	})
	return out
}
