package freshredis

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// EnvURL is the environment variable FromEnv reads.
const EnvURL = "FRESH_REDIS_URL"

// FromEnv returns a new client for the Redis named by the environment variable
// FRESH_REDIS_URL, which the caller closes. The variable holds one of:
//   - a URL, redis://[user:password@]host[:port][/db][?options] or rediss://... for
//     TLS (or unix://path), for a single server, as redis.ParseURL reads it;
//   - a URL with one or more addr=host:port query parameters, for a Redis Cluster
//     of those seed nodes, as redis.ParseClusterURL reads it;
//   - a comma-separated list of seed nodes of a Redis Cluster, each host:port or a
//     redis:// or rediss:// URL. The first URL's credentials and options apply to
//     all; later URLs may repeat its scheme and credentials but add nothing else.
//   - a bare host:port, for a single server.
//
// It fails with a clear error when the variable is unset or malformed; the error
// never includes a password.
func FromEnv() (redis.UniversalClient, error) {
	return clientFromURL(os.Getenv(EnvURL))
}

// clientFromURL is FromEnv for the value v.
func clientFromURL(v string) (redis.UniversalClient, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, fmt.Errorf("freshredis: %s is not set; set it to a URL such as redis://127.0.0.1:6379/0", EnvURL)
	}
	if strings.Contains(v, ",") {
		o, err := clusterOptionsFromList(v)
		if err != nil {
			return nil, err
		}
		return redis.NewClusterClient(o), nil
	}
	if !strings.Contains(v, "://") {
		if err := checkHostPort(v); err != nil {
			return nil, envError(err)
		}
		return redis.NewClient(&redis.Options{Addr: v}), nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return nil, envError(err)
	}
	if u.Query().Has("addr") {
		o, err := redis.ParseClusterURL(v)
		if err != nil {
			return nil, envError(err)
		}
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(v)
	if err != nil {
		return nil, envError(err)
	}
	return redis.NewClient(o), nil
}

// clusterOptionsFromList reads a comma-separated list of cluster seed nodes.
func clusterOptionsFromList(v string) (*redis.ClusterOptions, error) {
	var (
		o     *redis.ClusterOptions
		first *url.URL
		addrs []string
	)
	for i, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, envError(fmt.Errorf("item %d of the list is empty", i+1))
		}
		if !strings.Contains(item, "://") {
			if err := checkHostPort(item); err != nil {
				return nil, envError(fmt.Errorf("item %d: %w", i+1, err))
			}
			addrs = append(addrs, item)
			continue
		}
		u, err := url.Parse(item)
		if err != nil {
			return nil, envError(fmt.Errorf("item %d: %w", i+1, err))
		}
		if u.Scheme != "redis" && u.Scheme != "rediss" {
			return nil, envError(fmt.Errorf("item %d: scheme %q; a cluster node is redis:// or rediss://", i+1, u.Scheme))
		}
		if u.Host == "" {
			return nil, envError(fmt.Errorf("item %d: no host", i+1))
		}
		if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
			return nil, envError(fmt.Errorf("item %d: database %q; a Redis Cluster has only database 0", i+1, p))
		}
		if first == nil {
			first = u
			if o, err = redis.ParseClusterURL(clusterURLWithoutPath(u)); err != nil {
				return nil, envError(fmt.Errorf("item %d: %w", i+1, err))
			}
			addrs = append(addrs, o.Addrs...)
			continue
		}
		if u.Scheme != first.Scheme || u.User.String() != first.User.String() || u.RawQuery != "" {
			return nil, envError(fmt.Errorf("item %d: a later URL of the list must have the first one's scheme and credentials, and no options", i+1))
		}
		addrs = append(addrs, u.Host)
	}
	if o == nil {
		o = &redis.ClusterOptions{}
	}
	o.Addrs = addrs
	return o, nil
}

// clusterURLWithoutPath returns u without its path (ParseClusterURL rejects none,
// but a database number means nothing on a cluster), as a string.
func clusterURLWithoutPath(u *url.URL) string {
	c := *u
	c.Path, c.RawPath = "", ""
	return c.String()
}

// checkHostPort checks a host:port address. Its errors do not quote addr, which
// could be a URL with a password but without its scheme.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || strings.ContainsAny(host, "@/?#") {
		return errors.New("not a URL (scheme://...) nor host:port")
	}
	if host == "" {
		return errors.New("an address without a host")
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return errors.New("an address without a valid port")
	}
	return nil
}

// envError wraps an error about FRESH_REDIS_URL. A *url.Error quotes the URL, which
// may hold a password, so only its cause is kept; and a message that still shows a
// piece of the URL with user information (an '@') is withheld.
func envError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if strings.Contains(err.Error(), "@") {
		return fmt.Errorf("freshredis: %s is malformed (details withheld: they would show its user information)", EnvURL)
	}
	return fmt.Errorf("freshredis: %s is malformed: %w", EnvURL, err)
}
