package hitratio

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

func TestReaders(t *testing.T) {
	for _, tc := range []struct {
		name    string
		read    func(string) ([]uint64, error)
		in      string
		want    []uint64
		wantErr bool
	}{
		{"arc", readARCString, "1 3 0 0\n\n10 1 0 1\n", []uint64{1, 2, 3, 10}, false},
		{"arc/short line", readARCString, "1\n", nil, true},
		{"arc/bad count", readARCString, "1 x 0 0\n", nil, true},
		{"arc/huge run", readARCString, "1 99999999999 0 0\n", nil, true},
		{"arc/overflow", readARCString, "18446744073709551615 2 0 0\n", nil, true},
		{"lirs", readLIRSString, "5\n\n 7 \n5\n", []uint64{5, 7, 5}, false},
		{"lirs/bad", readLIRSString, "5\n-1\n", nil, true},
		{"binary", readBinaryString, "\x00\x00\x00\x00\x00\x00\x01\x02\xff\xff\xff\xff\xff\xff\xff\xff", []uint64{258, 1<<64 - 1}, false},
		{"binary/partial", readBinaryString, "\x00\x00\x00\x00\x00\x00\x01\x02\x01", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.read(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("got error %v; want error: %v", err, tc.wantErr)
			}
			if !tc.wantErr && !slices.Equal(got, tc.want) {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
}

func readARCString(s string) ([]uint64, error)    { return readARC(strings.NewReader(s)) }
func readLIRSString(s string) ([]uint64, error)   { return readLIRS(strings.NewReader(s)) }
func readBinaryString(s string) ([]uint64, error) { return readBinary(strings.NewReader(s)) }

func TestTraceFiles(t *testing.T) {
	dir, err := findTraces()
	if err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		name string
		want int
	}{
		{"Glimpse", 6015},
		{"Mixed", 2*135702 + 505500},
	} {
		i := slices.IndexFunc(traces(), func(tr trace) bool { return tr.name == tc.name })
		keys, err := traces()[i].load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != tc.want {
			t.Errorf("%s: %d accesses; want %d", tc.name, len(keys), tc.want)
		}
	}
}

func FuzzReadARC(f *testing.F) {
	f.Add("1 3 0 0\n10 1 0 1\n")
	f.Add("18446744073709551615 1 0 0")
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := readARCString(s)
		if err == nil && len(keys) > maxRun*(strings.Count(s, "\n")+1) {
			t.Errorf("%d keys from %d lines", len(keys), strings.Count(s, "\n")+1)
		}
	})
}

func FuzzReadLIRS(f *testing.F) {
	f.Add("5\n\n7\n")
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := readLIRSString(s)
		if err == nil && len(keys) > strings.Count(s, "\n")+1 {
			t.Errorf("%d keys from %d lines", len(keys), strings.Count(s, "\n")+1)
		}
	})
}

func FuzzReadBinary(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x01\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := readBinary(bytes.NewReader(b))
		if (err != nil) != (len(b)%8 != 0) {
			t.Fatalf("%d bytes: error %v", len(b), err)
		}
		if err != nil {
			return
		}
		var again []byte
		for _, k := range keys {
			again = binary.BigEndian.AppendUint64(again, k)
		}
		if !bytes.Equal(again, b) {
			t.Errorf("keys %v do not encode back to the input", keys)
		}
	})
}
