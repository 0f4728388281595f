package freshsqlite

import (
	"testing"
)

// TestFileSystemKind checks the names of the network file systems New warns about.
func TestFileSystemKind(t *testing.T) {
	t.Parallel()
	for magic, want := range map[int64]string{
		0x6969:             "NFS",
		0x517b:             "SMB",
		0xfe534d42:         "SMB",
		0xff534d42:         "CIFS",
		0x65735546:         "FUSE",
		0xef53:             "", // ext4
		0x01021994:         "", // tmpfs
		int64(-0x00acb2be): "CIFS",
	} {
		if got := fileSystemKind(magic); got != want {
			t.Errorf("fileSystemKind(%#x) = %q; want %q", magic, got, want)
		}
	}
	if kind := networkFileSystem(t.TempDir()); kind != "" {
		t.Logf("the test's temporary directory is on %s", kind)
	}
}
