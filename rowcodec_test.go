package fresh

import (
	"database/sql"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// rowCodecSchemes registers the tables the row codec tests compute dependencies with.
func rowCodecSchemes(t testing.TB) *schemes {
	var s schemes
	for _, ts := range []TableSchema{
		{Table: "articles", Scopes: [][]string{{"published", "category"}, {"author_id"}}},
		{Table: "users", Key: "uuid", Scopes: [][]string{{"email"}, {"created"}}},
	} {
		if err := s.register(ts); err != nil {
			t.Fatal(err)
		}
	}
	return &s
}

// rowCodecDeps returns the sorted dependency names of rc and whether computing them
// failed: the order of deps follows a map's, and its errors name values.
func rowCodecDeps(s *schemes, rc RowChange) ([]string, bool) {
	names, err := s.deps(rc)
	slices.Sort(names)
	return names, err != nil
}

// checkRowCodec encodes rc, decodes the result, and checks that the decoded change
// encodes alike and dirties the same dependencies as rc.
func checkRowCodec(t *testing.T, s *schemes, rc RowChange) string {
	t.Helper()
	enc, err := encodeRowChange(rc)
	if err != nil {
		t.Fatalf("encodeRowChange(%v): %v", rc, err)
	}
	dec, err := decodeRowChange(enc)
	if err != nil {
		t.Fatalf("decodeRowChange(%q): %v", enc, err)
	}
	if again, err := encodeRowChange(dec); err != nil || again != enc {
		t.Fatalf("decodeRowChange(%q) re-encodes to %q, %v", enc, again, err)
	}
	if (rc.Old == nil) != (dec.Old == nil) || (rc.New == nil) != (dec.New == nil) || len(rc.Old) != len(dec.Old) || len(rc.New) != len(dec.New) {
		t.Fatalf("decodeRowChange(%q) = %v; want the rows of %v", enc, dec, rc)
	}
	want, wantErr := rowCodecDeps(s, rc)
	got, gotErr := rowCodecDeps(s, dec)
	if !slices.Equal(got, want) || gotErr != wantErr {
		t.Fatalf("deps of %v: %q (error %v); after the codec %q (error %v)", rc, want, wantErr, got, gotErr)
	}
	return enc
}

func TestRowCodecRoundTrip(t *testing.T) {
	s := rowCodecSchemes(t)
	created := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600))
	uuid := [16]byte{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}
	cases := []struct {
		rc   RowChange
		want string // the encoding, when checked
	}{
		{RowChange{Table: "articles", New: Row{"id": 5, "published": true, "category": "go", "author_id": int64(7)}},
			"row:articles:-:+author_id=i7,category=sgo,id=i5,published=i1"},
		{RowChange{Table: "articles", Old: Row{"id": 5, "published": false}},
			"row:articles:+id=i5,published=i0:-"},
		{RowChange{Table: "articles", Old: Row{}, New: Row{"id": nil}}, "row:articles:+:+id=n"},
		{RowChange{Table: "a:b", New: Row{`c,=\`: `x:y`, "": 1}}, `row:a\:b:-:+=i1,c\,\=\\=sx\:y`},
		// The values a driver or JSON gives for one row encode as the caller's.
		{RowChange{Table: "articles", Old: Row{"id": []byte("5"), "published": []byte("1"), "category": []byte("go")},
			New: Row{"id": json.Number("5"), "published": "t", "category": sql.NullString{String: "rust", Valid: true}}},
			"row:articles:+category=sgo,id=i5,published=i1:+category=srust,id=i5,published=i1"},
		{RowChange{Table: "articles", New: Row{"id": 5.0, "price": 4.5, "ratio": float32(0.1), "big": uint64(math.MaxUint64)}},
			"row:articles:-:+big=i18446744073709551615,id=i5,price=f4.5,ratio=f0.1"},
		{RowChange{Table: "users", Old: Row{"uuid": uuid, "email": "a@x", "created": created},
			New: Row{"uuid": strings.ToUpper("550e8400-e29b-41d4-a716-446655440000"), "email": "b@x", "created": "2026-01-02 02:04:05.000006"}},
			`row:users:+created=t2026-01-02T02\:04\:05.000006Z,email=sa@x,uuid=s550e8400-e29b-41d4-a716-446655440000:` +
				`+created=t2026-01-02T02\:04\:05.000006Z,email=sb@x,uuid=s550e8400-e29b-41d4-a716-446655440000`},
		// Rows lacking columns: the key (an error, kept by the codec) or a scope column.
		{RowChange{Table: "articles", New: Row{"published": true}}, ""},
		{RowChange{Table: "unregistered", Old: Row{"id": "x"}, New: Row{"id": "y"}}, ""},
	}
	for _, tc := range cases {
		got := checkRowCodec(t, s, tc.rc)
		if tc.want != "" && got != tc.want {
			t.Errorf("encodeRowChange(%v) = %q; want %q", tc.rc, got, tc.want)
		}
	}
}

// TestRowCodecValues checks that a decoded value is the canonical Go value, which
// the caller's own values depend on through Entity and Scope.
func TestRowCodecValues(t *testing.T) {
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, v := range []any{42, uint64(math.MaxUint64), 4.5, "go", "", nil, true, when, "2026-01-02", []byte("x:y")} {
		enc, err := encodeRowChange(RowChange{Table: "t", New: Row{"c": v}})
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		dec, err := decodeRowChange(enc)
		if err != nil {
			t.Fatalf("%q: %v", enc, err)
		}
		got := dec.New["c"]
		switch got.(type) {
		case nil, int64, uint64, float64, string, time.Time:
		default:
			t.Errorf("%#v decodes as %T", v, got)
		}
		if a, b := Entity("t", v), Entity("t", got); a != b {
			t.Errorf("%#v decodes as %#v: Entity %q != %q", v, got, a, b)
		}
	}
}

func TestRowCodecEncodeErrors(t *testing.T) {
	bad := map[string]RowChange{
		"empty table":       {New: Row{"id": 1}},
		"no rows":           {Table: "t"},
		"unsupported value": {Table: "t", New: Row{"id": 1, "tags": []string{"a"}}},
		"NaN":               {Table: "t", Old: Row{"x": math.NaN()}},
		"long value":        {Table: "t", New: Row{"body": strings.Repeat("x", 64<<10)}},
		"long row":          {Table: "t", New: Row{"a": strings.Repeat("x", 32<<10), "b": strings.Repeat("x", 32<<10)}},
		"long table":        {Table: strings.Repeat("t", 64<<10), New: Row{}},
	}
	for name, rc := range bad {
		if s, err := encodeRowChange(rc); err == nil {
			t.Errorf("%s: encodeRowChange = %.40q; want an error", name, s)
		}
	}
}

func TestRowCodecDecodeErrors(t *testing.T) {
	for _, s := range []string{
		"", "row:", "row:t", "row:t:", "row:t:-", "row:t:-:-", "row::-:+", "rows:t:-:+", "tag:t", "row:t:-:+:",
		"row:t:-:+a", "row:t:-:+a=", "row:t:-:+a=x1", "row:t:-:+a=i1,", "row:t:-:+a=i1,a=i2", "row:t:-:+b=i1,a=i2",
		"row:t:-:+a=s42", "row:t:-:+a=b1", "row:t:-:+a=f2", "row:t:-:+a=i01", "row:t:*:+", "row:t:-x:+", "row:t:+a=i1x:-",
		`row:t:-:+a=t2026-01-02T03\:04\:05+01\:00`, `row:t\x:-:+`, "row:t:-:+a=sx:y", "row:t:-:+=",
		"row:t:-:+" + strings.Repeat("a", 64<<10),
	} {
		if rc, err := decodeRowChange(s); err == nil {
			t.Errorf("decodeRowChange(%.60q) = %v; want an error", s, rc)
		}
	}
}

// FuzzRowCodec: decodeRowChange never panics, and what it accepts encodes back to the
// same string.
func FuzzRowCodec(f *testing.F) {
	for _, s := range []string{
		"row:t:-:+id=i1", "row:t:+:-", `row:a\:b:+a=n,b=f4.5,c=sx\,y:+a=i-1,d=t2026-01-02T03\:04\:05Z`,
		"row:t:+id=s550e8400-e29b-41d4-a716-446655440000:-", "row:t:-:+a=s42",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rc, err := decodeRowChange(s)
		if err != nil {
			return
		}
		again, err := encodeRowChange(rc)
		if err != nil || again != s {
			t.Fatalf("decodeRowChange(%q) = %v, which encodes to %q, %v", s, rc, again, err)
		}
	})
}

// FuzzRowCodecDeps: a row change of values of mixed Go types dirties the same
// dependencies after the codec as before it.
func FuzzRowCodecDeps(f *testing.F) {
	f.Add(uint8(0), "go", int64(5), 4.5, true, uint8(1), "rust", int64(6))
	f.Add(uint8(7), "42", int64(42), 42.0, false, uint8(2), "2026-01-02 03:04:05", int64(-1))
	f.Fuzz(func(t *testing.T, k1 uint8, s1 string, n1 int64, f1 float64, b1 bool, k2 uint8, s2 string, n2 int64) {
		if math.IsNaN(f1) || math.IsInf(f1, 0) {
			return
		}
		pick := func(k uint8, s string, n int64) any {
			switch k % 8 {
			case 0:
				return s
			case 1:
				return []byte(s)
			case 2:
				return n
			case 3:
				return f1
			case 4:
				return b1
			case 5:
				return json.Number(s)
			case 6:
				return float64(n)
			default:
				return nil
			}
		}
		s := rowCodecSchemes(t)
		rc := RowChange{
			Table: "articles",
			Old:   Row{"id": pick(k1, s1, n1), "published": pick(k1/8, s2, n2), "category": pick(k2, s1, n2)},
			New:   Row{"id": pick(k2, s2, n2), "author_id": pick(k2/8, s1, n1)},
		}
		if k1&0x80 != 0 {
			rc.Old = nil
		}
		checkRowCodec(t, s, rc)
	})
}
