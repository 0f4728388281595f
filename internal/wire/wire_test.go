package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

var origin = [16]byte{0: 0xde, 1: 0xad, 14: 0xbe, 15: 0xef}

// validMessages are messages that Append accepts, covering every kind and the limits.
func validMessages() map[string]Message {
	many := make([]string, MaxItems)
	for i := range many {
		if i%1000 == 0 {
			many[i] = "x"
		}
	}
	return map[string]Message{
		"invalidate":      {Kind: KindInvalidate, Origin: origin, Epoch: 1, Seq: 1, Items: []string{"t:articles", "e:articles:42"}},
		"invalidate-none": {Kind: KindInvalidate, Origin: origin, Epoch: 3, Seq: 9},
		"delete":          {Kind: KindDelete, Origin: origin, Epoch: 7, Seq: 300, Namespace: "users", Items: []string{"k1", "", "k\x00\xff"}},
		"pattern":         {Kind: KindPattern, Origin: origin, Epoch: 4, Seq: 5, Namespace: "pages", Items: []string{"user:*", "page:?"}},
		"flush":           {Kind: KindFlush, Origin: origin, Epoch: 2, Seq: 2, Namespace: "päge"},
		"rows":            {Kind: KindRows, Origin: origin, Epoch: 2, Seq: 3, Items: []string{"articles:~:id=i1"}},
		"store-missed":    {Kind: KindStoreMissed, Origin: origin, Epoch: 2, Seq: 4},
		"heartbeat":       {Kind: KindHeartbeat, Origin: origin, Epoch: 1, Seq: 1 << 40, Stamp: 1234567890123},
		"negative-stamp":  {Kind: KindHeartbeat, Stamp: -1},
		"extreme":         {Kind: KindHeartbeat, Epoch: math.MaxUint64, Seq: math.MaxUint64, Stamp: math.MinInt64},
		"max-stamp":       {Kind: KindHeartbeat, Stamp: math.MaxInt64},
		"zero":            {Kind: KindInvalidate},
		"longest-item":    {Kind: KindInvalidate, Items: []string{strings.Repeat("a", MaxItemLen)}},
		"longest-ns":      {Kind: KindFlush, Namespace: strings.Repeat("n", MaxItemLen)},
		"most-items":      {Kind: KindDelete, Items: many},
	}
}

func TestRoundTrip(t *testing.T) {
	for name, m := range validMessages() {
		t.Run(name, func(t *testing.T) {
			b, err := Append(nil, &m)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if len(b) > MaxMessageSize {
				t.Fatalf("encoded %d bytes; limit %d", len(b), MaxMessageSize)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("Decode(Append(m)) = %+v; want %+v", summary(got), summary(m))
			}
		})
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	m := Message{Kind: KindDelete, Namespace: "ns", Items: []string{"a"}}
	alone, err := Append(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	got, err := Append(prefix, &m)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte("prefix"), alone...); !bytes.Equal(got, want) {
		t.Errorf("Append(prefix, m) = %x; want %x", got, want)
	}
}

// TestGolden freezes the layout: a change here is a new Version.
func TestGolden(t *testing.T) {
	m := Message{Kind: KindDelete, Origin: origin, Epoch: 300, Seq: 1, Stamp: -2, Namespace: "ns", Items: []string{"a", ""}}
	b, err := Append(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	want := "f50202" + hex.EncodeToString(origin[:]) + // magic, version, kind, origin
		"ac02" + "01" + "03" + // epoch 300, seq 1, stamp -2
		"026e73" + // namespace "ns"
		"02" + "0161" + "00" // two items: "a", ""
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("Append = %s; want %s", got, want)
	}
}

func TestAppendErrors(t *testing.T) {
	long := strings.Repeat("x", MaxItemLen)
	tests := []struct {
		name string
		m    *Message
		want error
	}{
		{"nil", nil, ErrKind},
		{"kind 0", &Message{}, ErrKind},
		{"kind 8", &Message{Kind: KindStoreMissed + 1}, ErrKind},
		{"flush with items", &Message{Kind: KindFlush, Items: []string{"a"}}, ErrKind},
		{"heartbeat with items", &Message{Kind: KindHeartbeat, Items: []string{""}}, ErrKind},
		{"too many items", &Message{Kind: KindInvalidate, Items: make([]string, MaxItems+1)}, ErrTooLarge},
		{"item too long", &Message{Kind: KindDelete, Items: []string{"a", long + "x"}}, ErrTooLarge},
		{"namespace too long", &Message{Kind: KindFlush, Namespace: long + "x"}, ErrTooLarge},
		{"message too large", &Message{Kind: KindInvalidate, Items: slices.Repeat([]string{long}, MaxMessageSize/MaxItemLen)}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := Append(dst, tt.m)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Append error = %v; want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "fresh/wire: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if string(got) != "keep" {
				t.Errorf("Append changed dst on error: %q", got)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := func(m Message) []byte {
		b, err := Append(nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	header := func(kind Kind) []byte {
		return append([]byte{magic, Version, byte(kind)}, origin[:]...)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// epoch, seq, stamp, empty namespace
	fields := []byte{1, 1, 0, 0}

	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"bad magic", []byte{0x00, Version, 1}, ErrMalformed},
		{"version 0", []byte{magic, 0, 1, 2, 3}, ErrVersion},
		{"version 3", cat([]byte{magic, 3}, valid(Message{Kind: KindFlush})[2:]), ErrVersion},
		{"unknown kind", cat(header(9), fields, []byte{0}), ErrMalformed},
		{"kind 0", cat(header(0), fields, []byte{0}), ErrMalformed},
		{"trailing byte", cat(valid(Message{Kind: KindFlush}), []byte{0}), ErrMalformed},
		{"non-minimal epoch", cat(header(KindFlush), []byte{0x81, 0x00, 1, 0, 0, 0}), ErrMalformed},
		{"non-minimal count", cat(header(KindInvalidate), fields, []byte{0x80, 0x00}), ErrMalformed},
		{"overflowing seq", cat(header(KindFlush), []byte{1}, bytes.Repeat([]byte{0xff}, 10), []byte{1, 0, 0, 0}), ErrMalformed},
		{"huge item count", cat(header(KindInvalidate), fields, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}), ErrMalformed},
		{"count beyond input", cat(header(KindInvalidate), fields, []byte{5, 0, 0}), ErrMalformed},
		{"item count over limit", cat(header(KindInvalidate), fields, []byte{0x81, 0x80, 0x04}, make([]byte, MaxItems+1)), ErrMalformed},
		{"item beyond input", cat(header(KindInvalidate), fields, []byte{1, 5, 'a'}), ErrMalformed},
		{"item over limit", cat(header(KindInvalidate), fields, []byte{1, 0x81, 0x80, 0x04}, make([]byte, MaxItemLen+1)), ErrMalformed},
		{"namespace beyond input", cat(header(KindFlush), []byte{1, 1, 0, 0x7f}), ErrMalformed},
		{"flush with items", cat(header(KindFlush), fields, []byte{1, 0}), ErrMalformed},
		{"heartbeat with items", cat(header(KindHeartbeat), fields, []byte{1, 1, 'a'}), ErrMalformed},
		{"oversized input", cat(header(KindInvalidate), make([]byte, MaxMessageSize)), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode error = %v; want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "fresh/wire: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if !reflect.DeepEqual(m, Message{}) {
				t.Errorf("Decode returned %+v with its error; want the zero Message", summary(m))
			}
		})
	}
}

func TestDecodeTruncated(t *testing.T) {
	for name, m := range validMessages() {
		b, err := Append(nil, &m)
		if err != nil {
			t.Fatalf("%s: Append: %v", name, err)
		}
		step := 1
		if len(b) > 4096 {
			step = 97 // the big messages: a sample of the cuts is enough
		}
		for i := 0; i < len(b); i += step {
			if _, err := Decode(b[:i]); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: Decode of the first %d of %d bytes: error %v; want %v", name, i, len(b), err, ErrMalformed)
			}
		}
	}
}

func TestDecodeCopies(t *testing.T) {
	m := Message{Kind: KindDelete, Namespace: "ns", Items: []string{"key1", "key2"}}
	b, err := Append(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("after reusing the input, Decode's result is %+v; want %+v", got, m)
	}
}

// TestDecodeBoundedAllocation checks that a short message claiming many or long items
// is rejected before anything in proportion to the claim is allocated.
func TestDecodeBoundedAllocation(t *testing.T) {
	b := append([]byte{magic, Version, byte(KindInvalidate)}, origin[:]...)
	b = append(b, 1, 1, 0, 0, 0xff, 0xff, 0x03) // count 65535, no items follow
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		if _, err := Decode(b); err == nil {
			t.Fatal("Decode accepted a count beyond its input")
		}
	}
	runtime.ReadMemStats(&after)
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 4<<10 {
		t.Errorf("Decode of %d bytes allocated %d bytes; want at most 4 KiB", len(b), perRun)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindInvalidate: "invalidate", KindDelete: "delete", KindFlush: "flush", KindHeartbeat: "heartbeat", KindPattern: "pattern", KindRows: "rows", KindStoreMissed: "store-missed", 0: "kind(0)", 200: "kind(200)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q; want %q", uint8(k), got, want)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	m := benchMessage()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = Append(buf[:0], &m)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecode(b *testing.B) {
	m := benchMessage()
	enc, err := Append(nil, &m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// benchMessage is a typical invalidation: a write touching an entity, its table and
// two scopes.
func benchMessage() Message {
	return Message{
		Kind: KindInvalidate, Origin: origin, Epoch: 1, Seq: 123456,
		Items: []string{
			"fresh1:e:articles:i42",
			"fresh1:t:articles",
			"fresh1:s:articles:{category,published}:s2:go,btrue",
			"fresh1:s:articles:{author}:i7",
		},
	}
}

// summary shortens a Message for failure output, whose big test cases would flood it.
func summary(m Message) Message {
	m.Items = slices.Clone(m.Items)
	if len(m.Items) > 8 {
		m.Items = append(m.Items[:8], "...")
	}
	for i, it := range m.Items {
		if len(it) > 32 {
			m.Items[i] = it[:32] + "..."
		}
	}
	if len(m.Namespace) > 32 {
		m.Namespace = m.Namespace[:32] + "..."
	}
	return m
}
