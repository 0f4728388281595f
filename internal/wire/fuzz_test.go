package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics and that the encoding is canonical: any
// input Decode accepts is exactly what Append writes for the decoded message.
func FuzzDecode(f *testing.F) {
	for _, m := range validMessages() {
		if len(m.Items) > 100 || len(m.Namespace) > 100 || (len(m.Items) == 1 && len(m.Items[0]) > 100) {
			continue // keep the corpus small
		}
		b, err := Append(nil, &m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{magic, Version})
	f.Add([]byte{magic, Version + 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Decode error %v wraps neither ErrMalformed nor ErrVersion", err)
			}
			return
		}
		again, err := Append(nil, &m)
		if err != nil {
			t.Fatalf("Append of a decoded message: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, again)
		}
	})
}

// FuzzRoundTrip checks that every message Append accepts decodes to itself. The items
// are cut from data at the lengths given by lens.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(KindInvalidate), []byte("0123456789abcdef"), uint64(1), uint64(1), int64(0), "", "t:articlese:articles:1", []byte{10, 12})
	f.Add(uint8(KindDelete), []byte{}, uint64(1<<63), uint64(7), int64(-5), "ns", "a\x00b", []byte{1, 0, 2})
	f.Add(uint8(KindHeartbeat), []byte{1}, uint64(0), uint64(0), int64(1<<62), "", "", []byte{})
	f.Add(uint8(KindFlush), []byte{}, uint64(2), uint64(3), int64(0), "users", "", []byte{})
	f.Add(uint8(9), []byte{}, uint64(2), uint64(3), int64(0), "", "x", []byte{1})
	f.Fuzz(func(t *testing.T, kind uint8, orig []byte, epoch, seq uint64, stamp int64, ns, data string, lens []byte) {
		m := Message{Kind: Kind(kind), Epoch: epoch, Seq: seq, Stamp: stamp, Namespace: ns}
		copy(m.Origin[:], orig)
		for _, n := range lens {
			n := min(int(n), len(data))
			m.Items = append(m.Items, data[:n])
			data = data[n:]
		}
		b, err := Append(nil, &m)
		if err != nil {
			if !errors.Is(err, ErrKind) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Append error %v wraps neither ErrKind nor ErrTooLarge", err)
			}
			return
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Append(%+v)): %v", m, err)
		}
		if len(m.Items) == 0 {
			m.Items = nil // Decode returns nil for no items
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("Decode(Append(m)) = %+v; want %+v", got, m)
		}
	})
}
