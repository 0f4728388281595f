package freshredis

import (
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestFromEnv(t *testing.T) {
	t.Setenv(EnvURL, "redis://127.0.0.1:6390/2")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if rc, ok := c.(*redis.Client); !ok || rc.Options().Addr != "127.0.0.1:6390" || rc.Options().DB != 2 {
		t.Errorf("FromEnv() = %T %+v; want a *redis.Client of 127.0.0.1:6390, db 2", c, c)
	}

	t.Setenv(EnvURL, "")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), EnvURL+" is not set") {
		t.Errorf("FromEnv() with the variable unset: %v; want an error saying so", err)
	}
}

func TestClientFromURL(t *testing.T) {
	tests := []struct {
		in        string
		cluster   bool
		addrs     []string
		db        int
		tls       bool
		user, pwd string
	}{
		{in: "redis://127.0.0.1:6379/0", addrs: []string{"127.0.0.1:6379"}},
		{in: "redis://localhost", addrs: []string{"localhost:6379"}},
		{in: "  redis://h:1/3  ", addrs: []string{"h:1"}, db: 3},
		{in: "rediss://u:p@h:6380", addrs: []string{"h:6380"}, tls: true, user: "u", pwd: "p"},
		{in: "h:7000", addrs: []string{"h:7000"}},
		{in: "[::1]:7000", addrs: []string{"[::1]:7000"}},
		{in: "h1:7000,h2:7001, h3:7002", cluster: true, addrs: []string{"h1:7000", "h2:7001", "h3:7002"}},
		{in: "redis://u:p@h1:7000,h2:7001,redis://u:p@h3:7002", cluster: true,
			addrs: []string{"h1:7000", "h2:7001", "h3:7002"}, user: "u", pwd: "p"},
		{in: "rediss://h1:7000,h2:7001", cluster: true, addrs: []string{"h1:7000", "h2:7001"}, tls: true},
		{in: "redis://h1:7000?addr=h2:7001&addr=h3:7002", cluster: true, addrs: []string{"h1:7000", "h2:7001", "h3:7002"}},
		{in: "redis://h1:7000/0,h2:7001", cluster: true, addrs: []string{"h1:7000", "h2:7001"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := clientFromURL(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			switch c := c.(type) {
			case *redis.Client:
				o := c.Options()
				if tt.cluster || !slices.Equal([]string{o.Addr}, tt.addrs) || o.DB != tt.db || (o.TLSConfig != nil) != tt.tls ||
					o.Username != tt.user || o.Password != tt.pwd {
					t.Errorf("got a client of %s db %d tls %v user %q; want %+v", o.Addr, o.DB, o.TLSConfig != nil, o.Username, tt)
				}
			case *redis.ClusterClient:
				o := c.Options()
				if !tt.cluster || !slices.Equal(o.Addrs, tt.addrs) || (o.TLSConfig != nil) != tt.tls ||
					o.Username != tt.user || o.Password != tt.pwd {
					t.Errorf("got a cluster client of %q tls %v user %q; want %+v", o.Addrs, o.TLSConfig != nil, o.Username, tt)
				}
			default:
				t.Fatalf("got a %T", c)
			}
		})
	}
}

func TestClientFromURLErrors(t *testing.T) {
	for _, in := range []string{
		"   ",
		"http://h:1",
		"redis://h:1/x",
		"redis://h:1/1/2",
		"redis://h:1?nosuchoption=1",
		"h",
		"h:port",
		"h:0",
		":7000",
		"h1:7000,,h2:7001",
		"h1:7000,",
		"h1:7000,http://h2:7001",
		"redis://h1:7000/3,h2:7001",
		"redis://u:p@h1:7000,redis://v:q@h2:7001",
		"redis://h1:7000,rediss://h2:7001",
		"redis://h1:7000,redis://h2:7001?db=1",
		"redis://%zz",
		"user:secret@h:7000",
		"redis://user:secret@h:1/x",
	} {
		t.Run(in, func(t *testing.T) {
			c, err := clientFromURL(in)
			if err == nil {
				c.Close()
				t.Fatalf("clientFromURL(%q) succeeded; want an error", in)
			}
			if !strings.HasPrefix(err.Error(), "freshredis: "+EnvURL) {
				t.Errorf("error %q does not begin with %q", err, "freshredis: "+EnvURL)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// FuzzClientFromURL checks that no value of FRESH_REDIS_URL makes the parser panic,
// and that an error never shows the password of a URL.
func FuzzClientFromURL(f *testing.F) {
	for _, s := range []string{
		"redis://127.0.0.1:6379/0", "rediss://u:p@h:1", "h1:1,h2:2", "redis://h:1?addr=h:2",
		"redis://u:secret@h1:1,redis://u:secret@h2:2", "unix:///tmp/r.sock", "[::1]:1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := clientFromURL(in)
		if err != nil {
			lower := strings.ToLower(in)
			if strings.Contains(in, "://u:secret@") && strings.Count(lower, "secret") == 1 && strings.Contains(strings.ToLower(err.Error()), "secret") {
				t.Fatalf("clientFromURL(%q): error %q shows the password", in, err)
			}
			return
		}
		c.Close()
	})
}
