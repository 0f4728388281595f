package freshnats

import (
	"bytes"
	"errors"
	"testing"
)

// TestFrameRoundTrip: appendFrame and appendControl write what decodeFrame reads.
func TestFrameRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		more, cont bool
		payload    string
	}{{false, false, ""}, {false, false, "hello"}, {true, false, "first"}, {true, true, "middle"}, {false, true, "last"}} {
		b := appendFrame([]byte("junk"), 0x0102030405060708, 42, tc.more, tc.cont, []byte(tc.payload))[4:]
		f, err := decodeFrame(b)
		if err != nil {
			t.Fatalf("decodeFrame(appendFrame(%+v)): %v", tc, err)
		}
		if f.pub != 0x0102030405060708 || f.seq != 42 || f.more != tc.more || f.cont != tc.cont || f.control || string(f.payload) != tc.payload {
			t.Errorf("decodeFrame(appendFrame(%+v)) = %+v", tc, f)
		}
	}
	f, err := decodeFrame(appendControl(nil, 7, 3, 0xdeadbeef))
	if err != nil || !f.control || f.pub != 7 || f.seq != 3 || len(f.payload) != controlTokenLen {
		t.Errorf("decodeFrame(appendControl) = %+v, %v", f, err)
	}
}

// TestDecodeFrameRejects: decodeFrame refuses what is not a frame, with errFrame.
func TestDecodeFrameRejects(t *testing.T) {
	t.Parallel()
	valid := appendFrame(nil, 1, 1, false, false, []byte("x"))
	with := func(i int, v byte) []byte { b := bytes.Clone(valid); b[i] = v; return b }
	for name, b := range map[string][]byte{
		"nil":              nil,
		"short":            valid[:frameHeaderLen-1],
		"magic":            with(0, 'g'),
		"magic 2":          with(1, 'n'),
		"version":          with(2, 2),
		"flags":            with(3, 0x08),
		"sequence 0":       appendFrame(nil, 1, 0, false, false, nil),
		"control and more": with(3, frameControl|frameMore),
		"control and cont": with(3, frameControl|frameCont),
		"control size":     with(3, frameControl),
	} {
		if f, err := decodeFrame(b); !errors.Is(err, errFrame) {
			t.Errorf("decodeFrame(%s) = %+v, %v; want errFrame", name, f, err)
		}
	}
}

// TestAssembler follows one sequence of frames from two publishers through the
// assembler.
func TestAssembler(t *testing.T) {
	t.Parallel()
	const a, b = 1, 2
	type step struct {
		f              frame
		msg            string // "" for none
		gap, broken    bool
		control        bool
		gapFrom, gapTo uint64
	}
	fr := func(pub, seq uint64, more, cont bool, payload string) frame {
		return frame{pub: pub, seq: seq, more: more, cont: cont, payload: []byte(payload)}
	}
	steps := []step{
		{f: fr(a, 5, false, false, "a5"), msg: "a5"}, // a new publisher may start anywhere
		{f: fr(b, 1, true, false, "b1,"), msg: ""},
		{f: fr(a, 6, false, false, "a6"), msg: "a6"}, // interleaved with b's fragments
		{f: fr(b, 2, true, true, "b2,"), msg: ""},
		{f: fr(b, 3, false, true, "b3"), msg: "b1,b2,b3"},
		{f: fr(a, 8, false, false, "a8"), msg: "a8", gap: true, gapFrom: 7, gapTo: 8},
		{f: fr(b, 4, true, false, "x"), msg: ""},
		{f: fr(b, 6, false, true, "z"), gap: true, gapFrom: 5, gapTo: 6}, // the gap speaks for the lost start
		{f: fr(b, 7, true, true, "orphan"), broken: true},                // a continuation with no start
		{f: fr(b, 8, false, true, "end"), msg: ""},                       // the rest of it is skipped
		{f: fr(b, 9, false, false, "b9"), msg: "b9"},
		{f: fr(b, 10, true, false, "u"), msg: ""},
		{f: fr(b, 11, false, false, "v"), msg: "v", broken: true}, // a new message before the last ended
		{f: frame{pub: a, seq: 9, control: true, payload: []byte{0, 0, 0, 0, 0, 0, 0, 9}}, control: true},
		{f: fr(3, 1, false, true, "mid"), broken: true}, // a new publisher caught mid-message
		{f: fr(a, 10, true, false, "0123456789"), msg: ""},
		{f: fr(a, 11, false, true, "0123456789"), broken: true}, // over maxSize
		{f: fr(a, 12, false, false, "ok"), msg: "ok"},
	}
	asm := newAssembler(15)
	for i, s := range steps {
		r := asm.add(s.f)
		if string(r.msg) != s.msg || (r.msg != nil) != (s.msg != "") {
			t.Errorf("step %d (%+v): message %q; want %q", i, s.f, r.msg, s.msg)
		}
		if r.gap != s.gap || (s.gap && (r.gapFrom != s.gapFrom || r.gapTo != s.gapTo)) {
			t.Errorf("step %d: gap %v %d-%d; want %v %d-%d", i, r.gap, r.gapFrom, r.gapTo, s.gap, s.gapFrom, s.gapTo)
		}
		if (r.broken != nil) != s.broken {
			t.Errorf("step %d: broken %v; want %v", i, r.broken, s.broken)
		}
		if r.control != s.control || (s.control && r.token != 9) {
			t.Errorf("step %d: control %v token %d; want %v", i, r.control, r.token, s.control)
		}
	}
	asm.forget()
	if r := asm.add(fr(a, 100, false, false, "again")); r.gap || string(r.msg) != "again" {
		t.Errorf("after forget: %+v; want a new publisher", r)
	}
}

// TestAssemblerEvicts: past maxPublishers, the publisher heard from least recently
// is forgotten, unless it is in the middle of a message.
func TestAssemblerEvicts(t *testing.T) {
	t.Parallel()
	asm := newAssembler(1 << 20)
	asm.add(frame{pub: 0, seq: 1, more: true, payload: []byte("open")}) // oldest, but mid-message
	for p := uint64(1); p < maxPublishers; p++ {
		asm.add(frame{pub: p, seq: 1})
	}
	asm.add(frame{pub: maxPublishers, seq: 1})
	if len(asm.pubs) != maxPublishers {
		t.Fatalf("%d publishers remembered; want %d", len(asm.pubs), maxPublishers)
	}
	if _, ok := asm.pubs[0]; !ok {
		t.Error("the publisher in the middle of a message was forgotten")
	}
	if _, ok := asm.pubs[1]; ok {
		t.Error("the publisher heard from least recently was kept")
	}
	if r := asm.add(frame{pub: 0, seq: 2, cont: true, payload: []byte(" end")}); string(r.msg) != "open end" {
		t.Errorf("the open message ended as %+v", r)
	}
}

// FuzzDecodeFrame: decodeFrame never panics, and what it accepts re-encodes to the
// same bytes.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendFrame(nil, 1, 1, false, false, []byte("x")))
	f.Add(appendFrame(nil, 1, 2, true, true, nil))
	f.Add(appendControl(nil, 3, 4, 5))
	f.Add([]byte("fN\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			return
		}
		var again []byte
		if fr.control {
			again = appendControl(nil, fr.pub, fr.seq, 0)
			copy(again[frameHeaderLen:], fr.payload)
		} else {
			again = appendFrame(nil, fr.pub, fr.seq, fr.more, fr.cont, fr.payload)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("decodeFrame(%x) = %+v, which encodes to %x", b, fr, again)
		}
	})
}

// FuzzAssembler feeds the assembler arbitrary frames: it never panics, never
// returns a message larger than its bound, and never holds more publishers than
// maxPublishers.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte{0, 1, 0, 5, 0, 2, 1, 3, 1, 3, 2, 4})
	f.Fuzz(func(t *testing.T, ops []byte) {
		asm := newAssembler(8)
		seqs := map[uint64]uint64{}
		for i := 0; i+1 < len(ops); i += 2 {
			pub := uint64(ops[i] % 4)
			seqs[pub] += uint64(ops[i+1]%3) + (map[bool]uint64{true: 1}[ops[i+1]%7 != 0])
			if seqs[pub] == 0 {
				seqs[pub] = 1
			}
			fl := ops[i+1] >> 4
			r := asm.add(frame{pub: pub, seq: seqs[pub], more: fl&1 != 0, cont: fl&2 != 0, payload: bytes.Repeat([]byte{'p'}, int(fl>>2))})
			if len(r.msg) > 8 {
				t.Fatalf("a message of %d bytes, over the bound of 8", len(r.msg))
			}
		}
		if len(asm.pubs) > maxPublishers {
			t.Fatalf("%d publishers", len(asm.pubs))
		}
	})
}
