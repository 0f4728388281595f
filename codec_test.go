package fresh

import (
	"bytes"
	"testing"
)

type codecShape struct {
	A int
	B []string
	M map[string]*codecShape
}

// FuzzStoreValue: whatever bytes a store returns, decoding never panics, and a value
// encoded for one key never decodes for another.
func FuzzStoreValue(f *testing.F) {
	vc := newValueCodec[codecShape](JSONCodec[codecShape]{}, "")
	good, _ := vc.encode("k", codecShape{A: 1, B: []string{"x"}}, false)
	neg, _ := vc.encode("k", codecShape{}, true)
	f.Add("k", good)
	f.Add("k", neg)
	f.Add("other", good)
	f.Add("k", []byte{})
	f.Add("k", good[:len(good)-1])
	f.Fuzz(func(t *testing.T, key string, b []byte) {
		v, isNeg, err := vc.decode(key, b)
		if err != nil {
			return
		}
		if key != "k" && (bytes.Equal(b, good) || bytes.Equal(b, neg)) {
			t.Fatalf("a value of key k decoded for key %q", key)
		}
		// What decodes re-encodes to a value that decodes to the same.
		b2, err := vc.encode(key, v, isNeg)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, n2, err := vc.decode(key, b2); err != nil || n2 != isNeg {
			t.Fatalf("round trip: %v, %v", n2, err)
		}
	})
}

func TestFingerprintChangesWithShape(t *testing.T) {
	type v1 struct{ Name string }
	type v2 struct {
		Name string
		Age  int
	}
	type v3 struct {
		Name string `json:"n"`
	}
	fps := map[[8]byte]string{}
	for name, fp := range map[string][8]byte{
		"v1":      newValueCodec[v1](JSONCodec[v1]{}, "").fp,
		"v2":      newValueCodec[v2](JSONCodec[v2]{}, "").fp,
		"v3":      newValueCodec[v3](JSONCodec[v3]{}, "").fp,
		"v1@x":    newValueCodec[v1](JSONCodec[v1]{}, "x").fp,
		"v1@y":    newValueCodec[v1](JSONCodec[v1]{}, "y").fp,
		"string":  newValueCodec[string](JSONCodec[string]{}, "").fp,
		"recurse": newValueCodec[codecShape](JSONCodec[codecShape]{}, "").fp,
	} {
		if other, dup := fps[fp]; dup {
			t.Errorf("%s and %s share a fingerprint", name, other)
		}
		fps[fp] = name
	}
	first, again := newValueCodec[v1](JSONCodec[v1]{}, ""), newValueCodec[v1](JSONCodec[v1]{}, "")
	if first.fp != again.fp {
		t.Error("the fingerprint of one type is not stable")
	}
}
