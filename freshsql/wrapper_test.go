package freshsql

import (
	"context"
	"database/sql"
	"reflect"
	"strings"
	"testing"
	"time"
)

type article struct {
	id, author int64
	title      string
	body       []byte
	score      float64
	created    time.Time
	note       sql.NullString
}

func insert(tb testing.TB, db *sql.DB, a article) {
	tb.Helper()
	if _, err := db.Exec(qInsertArticle, a.id, a.author, a.title, a.body, a.score, a.created, a.note); err != nil {
		tb.Fatal(err)
	}
}

// readAll runs q with args under ctx and returns every row as the driver's values
// (Scan into *any) and the column types' descriptions.
func readAll(tb testing.TB, ctx context.Context, q interface { //nolint:revive // tb first, as every helper
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([][]any, []string) {
	tb.Helper()
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		tb.Fatal(err)
	}
	var types []string
	for _, ct := range cts {
		n, nok := ct.Nullable()
		st := "<nil>"
		if ct.ScanType() != nil {
			st = ct.ScanType().String()
		}
		types = append(types, ct.Name()+" "+ct.DatabaseTypeName()+" "+st+" "+strings.Repeat("n", btoi(n))+strings.Repeat("?", btoi(nok)))
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out, types
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func seed(tb testing.TB, db *sql.DB) {
	tb.Helper()
	at := time.Date(2026, 12, 1, 10, 30, 0, 123456789, time.UTC)
	insert(tb, db, article{id: 10, author: 1, title: "first", body: []byte{0, 1, 2}, score: 1.5, created: at})
	insert(tb, db, article{id: 11, author: 1, title: "second", body: nil, score: -2, created: at.Add(time.Hour), note: sql.NullString{String: "n", Valid: true}})
	insert(tb, db, article{id: 20, author: 2, title: "other", body: []byte("x"), score: 0, created: at})
}

// TestHitReplaysTheMiss: a cached read scans into the same Go types and values on
// the hit as on the miss, NULLs, times, floats and []byte included, with the same
// column types.
func TestHitReplaysTheMiss(t *testing.T) {
	db, c := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	miss, missTypes := readAll(t, ctx, db, qByAuthor, 1)
	hit, hitTypes := readAll(t, ctx, db, qByAuthor, 1)
	direct, directTypes := readAll(t, context.Background(), db, qByAuthor, 1)
	if len(miss) != 2 {
		t.Fatalf("%d rows; want 2", len(miss))
	}
	for _, got := range []struct {
		name  string
		rows  [][]any
		types []string
	}{{"hit", hit, hitTypes}, {"uncached", direct, directTypes}} {
		if !reflect.DeepEqual(got.rows, miss) {
			t.Errorf("%s rows %#v; want the miss's %#v", got.name, got.rows, miss)
		}
		if !reflect.DeepEqual(got.types, missTypes) {
			t.Errorf("%s column types %q; want %q", got.name, got.types, missTypes)
		}
	}
	if s := c.Stats(); s.Hits != 1 || s.Misses != 1 || s.Bypassed != 1 {
		t.Errorf("Stats = %+v; want 1 hit, 1 miss, 1 bypassed", s)
	}
	// Typed scans agree too.
	var a, b article
	for _, dst := range []*article{&a, &b} {
		if err := db.QueryRowContext(ctx, qByAuthor, 1).Scan(&dst.id, &dst.title, &dst.body, &dst.score, &dst.created, &dst.note); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("typed scans differ: %+v and %+v", a, b)
	}
}

// TestRawBytesCannotCorruptTheCache (P23): a caller that writes into the bytes it
// scanned with sql.RawBytes changes nothing another reader gets.
func TestRawBytesCannotCorruptTheCache(t *testing.T) {
	db, _ := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	scribble := func() {
		rows, err := db.QueryContext(ctx, qByAuthor, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, title, body, score, created, note sql.RawBytes
			if err := rows.Scan(&id, &title, &body, &score, &created, &note); err != nil {
				t.Fatal(err)
			}
			for i := range title {
				title[i] = 'X'
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	scribble()
	scribble()
	var title string
	if err := db.QueryRowContext(ctx, qByID, 10).Scan(new(int64), &title); err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(t, ctx, db, qByAuthor, 1)
	if got[0][1] != "first" {
		t.Errorf("title %q after a caller wrote into its RawBytes; want %q", got[0][1], "first")
	}
}

func TestNotCachedWithoutAsking(t *testing.T) {
	db, c := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	for range 3 {
		readAll(t, context.Background(), db, qByAuthor, 1)
	}
	if s := c.Stats(); s.Hits != 0 || s.Bypassed != 3 {
		t.Errorf("Stats = %+v; want 3 bypassed", s)
	}
	readAll(t, NoCache(Cached(context.Background())), db, qByAuthor, 1)
	if s := c.Stats(); s.Hits != 0 || s.Misses != 0 {
		t.Errorf("NoCache: Stats = %+v; want no hit and no miss", s)
	}
}

func TestRulesCacheTheirTables(t *testing.T) {
	db, c := testDB(t, blogAnalyzer(), Options{Rules: []Rule{{Tables: []string{"articles"}}}})
	seed(t, db)
	for range 3 {
		readAll(t, context.Background(), db, qCount)
	}
	if s := c.Stats(); s.Hits != 2 || s.Misses != 1 {
		t.Errorf("Stats = %+v; want 1 miss and 2 hits", s)
	}
}

// TestWritesInvalidatePrecisely: an insert into one author's scope evicts that
// scope and the table-wide count, not another author's scope; an update that pins
// only the key dirties every author scope (default mode), and a move between two
// authors is seen by both lists.
func TestWritesInvalidatePrecisely(t *testing.T) {
	db, _ := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	count := func() int64 {
		rows, _ := readAll(t, ctx, db, qCount)
		return rows[0][0].(int64)
	}
	ids := func(author int) []int64 {
		rows, _ := readAll(t, ctx, db, qByAuthor, author)
		var out []int64
		for _, r := range rows {
			out = append(out, r[0].(int64))
		}
		return out
	}
	_, _, _ = count(), ids(1), ids(2)
	conn, _ := Lookup(db)
	before := conn.Stats()
	insert(t, db, article{id: 21, author: 2, title: "new", created: time.Now()})
	if got := ids(1); !reflect.DeepEqual(got, []int64{10, 11}) {
		t.Fatalf("author 1: %v", got)
	}
	after := conn.Stats()
	if after.Hits != before.Hits+1 {
		t.Errorf("author 1's list was evicted by an insert for author 2 (hits %d → %d)", before.Hits, after.Hits)
	}
	if got := ids(2); !reflect.DeepEqual(got, []int64{20, 21}) {
		t.Errorf("author 2 after the insert: %v; want [20 21]", got)
	}
	if got := count(); got != 4 {
		t.Errorf("count after the insert: %d; want 4", got)
	}
	// Move article 10 from author 1 to author 2: both lists change.
	if _, err := db.Exec(qMove, 2, 10); err != nil {
		t.Fatal(err)
	}
	if got := ids(1); !reflect.DeepEqual(got, []int64{11}) {
		t.Errorf("author 1 after the move: %v; want [11]", got)
	}
	if got := ids(2); !reflect.DeepEqual(got, []int64{10, 20, 21}) {
		t.Errorf("author 2 after the move: %v; want [10 20 21]", got)
	}
	if _, err := db.Exec(qDeleteAuthor, 2); err != nil {
		t.Fatal(err)
	}
	if got := ids(2); len(got) != 0 {
		t.Errorf("author 2 after the delete: %v; want none", got)
	}
}

// TestRollbackInvalidatesNothing and the commit: a write in a rolled-back
// transaction evicts nothing; in a committed one, a reader between the write and
// the commit caches the old value (it is what the database shows it), and the
// commit's invalidation removes it (P3, P5).
func TestTransactions(t *testing.T) {
	db, c := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	title := func() string {
		var id int64
		var s string
		if err := db.QueryRowContext(ctx, qByID, 10).Scan(&id, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	title()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(qRetitle, "rolled back", 10); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	hits := c.Stats().Hits
	if got := title(); got != "first" {
		t.Fatalf("title %q after a rollback; want %q", got, "first")
	}
	if c.Stats().Hits != hits+1 {
		t.Errorf("the rolled-back write evicted the entry")
	}

	tx, err = db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(qRetitle, "committed", 10); err != nil {
		t.Fatal(err)
	}
	// Inside the writing transaction, reads bypass the cache and see the write (P6).
	var id int64
	var s string
	if err := tx.QueryRowContext(ctx, qByID, 10).Scan(&id, &s); err != nil || s != "committed" {
		t.Fatalf("read inside the writing transaction: %q, %v; want %q", s, err, "committed")
	}
	// Another connection, before the commit, reads (and may cache) the old title.
	if got := title(); got != "first" {
		t.Fatalf("title before the commit: %q", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := title(); got != "committed" {
		t.Errorf("title after the commit: %q; want %q (a pre-commit value survived the commit)", got, "committed")
	}
}

// TestEmptyUpdateThenRealUpdate (P6): an update matching no row, then a real one,
// in one transaction: the real one is not lost.
func TestEmptyUpdateThenRealUpdate(t *testing.T) {
	db, _ := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	readAll(t, ctx, db, qByID, 10)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(qRetitle, "nobody", 999); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(qRetitle, "real", 10); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rows, _ := readAll(t, ctx, db, qByID, 10)
	if rows[0][1] != "real" {
		t.Errorf("title %v; want real", rows[0][1])
	}
}

// TestManualTransaction: writes between BEGIN and COMMIT statements on one
// connection are invalidated again after the COMMIT.
func TestManualTransaction(t *testing.T) {
	db, _ := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	readAll(t, ctx, db, qByID, 10)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []struct {
		sql  string
		args []any
	}{{qBegin, nil}, {qRetitle, []any{"manual", 10}}} {
		if _, err := conn.ExecContext(context.Background(), q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	// Another connection caches the committed (old) title meanwhile.
	if rows, _ := readAll(t, ctx, db, qByID, 10); rows[0][1] != "first" {
		t.Fatalf("before COMMIT: %v", rows[0][1])
	}
	if _, err := conn.ExecContext(context.Background(), qCommit); err != nil {
		t.Fatal(err)
	}
	if rows, _ := readAll(t, ctx, db, qByID, 10); rows[0][1] != "manual" {
		t.Errorf("after COMMIT: %v; want manual", rows[0][1])
	}
}

func TestUnknownWriteInvalidatesEverything(t *testing.T) {
	db, c := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	readAll(t, ctx, db, qByID, 10)
	readAll(t, ctx, db, qCount)
	if _, err := db.Exec(qUnknown); err != nil {
		t.Fatal(err)
	}
	misses := c.Stats().Misses
	readAll(t, ctx, db, qByID, 10)
	readAll(t, ctx, db, qCount)
	if got := c.Stats().Misses - misses; got != 2 {
		t.Errorf("%d misses after an unknown write; want 2", got)
	}
	if s := c.Stats(); s.UnknownWrites != 1 {
		t.Errorf("UnknownWrites = %d; want 1", s.UnknownWrites)
	}
}

func TestTooLargeIsReturnedWholeAndNotCached(t *testing.T) {
	db, c := testDB(t, blogAnalyzer(), Options{MaxResultBytes: 200})
	seed(t, db)
	ctx := Cached(context.Background())
	for range 2 {
		rows, _ := readAll(t, ctx, db, qByAuthor, 1)
		if len(rows) != 2 {
			t.Fatalf("%d rows; want 2", len(rows))
		}
	}
	if s := c.Stats(); s.TooLarge != 2 || s.Hits != 0 {
		t.Errorf("Stats = %+v; want 2 too large and no hit", s)
	}
}

func TestReport(t *testing.T) {
	db, c := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	readAll(t, ctx, db, qByID, 10)
	readAll(t, ctx, db, qByID, 10)
	readAll(t, ctx, db, qNow)
	byText := map[string]StatementReport{}
	for _, r := range c.Report() {
		byText[r.SQL] = r
	}
	if r := byText[qByID]; !r.Cacheable || r.Hits != 1 || r.Misses != 1 {
		t.Errorf("report of %q: %+v", qByID, r)
	}
	if r := byText[qNow]; r.Cacheable || r.NotCached == "" || r.Bypassed != 1 {
		t.Errorf("report of %q: %+v; want not cacheable, with why", qNow, r)
	}
	if r := byText[qInsertArticle]; r.Kind != "write" || r.Executions != 3 {
		t.Errorf("report of the insert: %+v", r)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{Analyzer: blogAnalyzer(), TTL: -1},
		{Analyzer: blogAnalyzer(), MaxResultBytes: -1},
		{Analyzer: blogAnalyzer(), Rules: []Rule{{}}},
		{Analyzer: blogAnalyzer(), Rules: []Rule{{Tables: []string{""}}}},
	} {
		if _, err := Open("sqlite", ":memory:", o); err == nil {
			t.Errorf("Open with %+v succeeded", o)
		}
	}
	if _, err := NewConnector(nil, Options{Analyzer: blogAnalyzer()}); err == nil {
		t.Error("NewConnector(nil) succeeded")
	}
}

// TestUnparsableWrite: a text the analyser cannot parse is run, never cached,
// and invalidates everything when executed.
func TestUnparsableWrite(t *testing.T) {
	db, c := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	readAll(t, ctx, db, qCount)
	if _, err := db.Exec(`UPDATE articles SET title = 'x' WHERE id = 10 -- not in the test analyser`); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.UnknownWrites != 1 {
		t.Errorf("Stats = %+v; want 1 unknown write", s)
	}
	misses := c.Stats().Misses
	readAll(t, ctx, db, qCount)
	if c.Stats().Misses != misses+1 {
		t.Error("the unparsable write did not invalidate the count")
	}
}

// TestTemporaryTableShadows: after a connection creates a temporary table, its
// reads of that name bypass the cache.
func TestTemporaryTableShadows(t *testing.T) {
	a := blogAnalyzer()
	const create = `CREATE TEMP TABLE articles (id INTEGER, title TEXT)`
	a.m[create] = &Analysis{Writes: []Write{{Op: OpSchema, Table: "articles", Temporary: true}}}
	db, c := testDB(t, a, Options{})
	seed(t, db)
	ctx := Cached(context.Background())
	readAll(t, ctx, db, qByID, 10)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, create); err != nil {
		t.Fatal(err)
	}
	if rows, _ := readAll(t, ctx, conn, qByID, 10); len(rows) != 0 {
		t.Errorf("the connection with the temporary table read %v; want its own empty table", rows)
	}
	if rows, _ := readAll(t, ctx, db, qByID, 10); len(rows) != 1 {
		t.Errorf("another connection read %v; want the article", rows)
	}
	// Only the shadowed connection's read bypassed the cache (the CREATE, a
	// schema change of the name, dirtied the cached article: the other read
	// misses and is cached again).
	if s := c.Stats(); s.Bypassed != 1 || s.Misses != 2 {
		t.Errorf("Stats = %+v; want 1 bypassed and 2 misses", s)
	}
}

func TestContains(t *testing.T) {
	db, c := testDB(t, blogAnalyzer(), Options{})
	seed(t, db)
	if c.Contains(qByID, 10) {
		t.Fatal("Contains before any read")
	}
	readAll(t, Cached(context.Background()), db, qByID, 10)
	if !c.Contains(qByID, 10) || c.Contains(qByID, 11) {
		t.Fatalf("Contains(10) = %v, Contains(11) = %v; want true, false", c.Contains(qByID, 10), c.Contains(qByID, 11))
	}
	if _, err := db.Exec(qRetitle, "x", 10); err != nil {
		t.Fatal(err)
	}
	if c.Contains(qByID, 10) {
		t.Error("Contains after the write that evicted it")
	}
}
