package freshnats

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// defaultDialTimeout bounds each attempt of OpenURL to connect to a server, when its
// context's deadline does not come sooner.
const defaultDialTimeout = 2 * time.Second

// openReconnectWait is the pause between two rounds of reconnection attempts of a
// connection opened by OpenURL (nats.go's default is 2 s): a bus wants its outage
// short, and core NATS loses what is published during it.
const openReconnectWait = 250 * time.Millisecond

// OpenURL connects to the NATS server at rawURL and returns a Bus configured by o
// on that connection. The bus owns the connection: its Close closes it.
//
// rawURL is nats://[user:password@]host[:port][?parameters], or tls://... for TLS,
// or several such URLs separated by commas (the seeds of a cluster; in core mode, see
// Options.AllowCluster), with the parameters on the first one only. The parameters
// are:
//
//   - jetstream=1 (or true, yes, on) selects JetStream mode, jetstream=0 (or false,
//     no, off) core mode: the same as Options.JetStream, e.g.
//     nats://127.0.0.1:4222?jetstream=1;
//   - namespace=NAME sets Options.Namespace.
//
// A parameter that contradicts a field of o that is set is an error, as is any
// other parameter. The connection reconnects forever, every 250 ms, after it is
// lost. ctx bounds the connection and, in JetStream mode, the creation (or check) of
// the stream, which OpenURL does at once. An unreachable server is an error. Errors
// never show the URL's password.
func OpenURL(ctx context.Context, rawURL string, o Options) (*Bus, error) {
	if ctx == nil {
		return nil, errors.New("freshnats: OpenURL: nil context")
	}
	servers, display, err := parseBusURL(rawURL, &o)
	if err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	dial := defaultDialTimeout
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return nil, fmt.Errorf("freshnats: connect to %s: %w", display, context.DeadlineExceeded)
		}
		dial = min(dial, left)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("freshnats: connect to %s: %w", display, err)
	}
	filled := o // newBus fills in o's defaults itself
	filled.fill()
	log := filled.Logger
	nc, err := nats.Connect(servers,
		nats.Name("freshnats "+filled.Namespace),
		nats.Timeout(dial),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(openReconnectWait),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil when the connection is closed on purpose
				log.Warn("freshnats: disconnected from the server; reconnecting", "url", display, "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("freshnats: reconnected", "server", redactURL(nc.ConnectedUrl()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("freshnats: connection error", "url", display, "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("freshnats: connect to %s: %w", display, err)
	}
	if err := ctx.Err(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("freshnats: connect to %s: %w", display, err)
	}
	b, err := newBus(nc, o, true)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if b.o.JetStream {
		sctx, cancel := b.ctxTimeout(ctx)
		_, err := b.ensureStream(sctx)
		cancel()
		if err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("freshnats: OpenURL: %w", err)
		}
	}
	return b, nil
}

// parseBusURL checks rawURL, applies its parameters to o, and returns the server
// list for nats.Connect and a form of the URL without password for messages.
func parseBusURL(rawURL string, o *Options) (servers, display string, err error) {
	rawURL = strings.TrimSpace(rawURL)
	if rawURL == "" {
		return "", "", errors.New("freshnats: empty bus URL; want nats://host:port")
	}
	var list, shown []string
	var query url.Values
	for i, item := range strings.Split(rawURL, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return "", "", fmt.Errorf("freshnats: bus URL: item %d of the list is empty", i+1)
		}
		if !strings.Contains(item, "://") {
			return "", "", fmt.Errorf("freshnats: bus URL item %d has no scheme; want nats://host:port or tls://host:port", i+1)
		}
		u, err := url.Parse(item)
		if err != nil {
			return "", "", urlError(i, err)
		}
		switch {
		case u.Scheme != "nats" && u.Scheme != "tls":
			return "", "", fmt.Errorf("freshnats: bus URL %s: scheme %q; want nats:// or tls://", u.Redacted(), u.Scheme)
		case u.Host == "" || u.Hostname() == "":
			return "", "", fmt.Errorf("freshnats: bus URL %s: no host", u.Redacted())
		case u.Path != "" && u.Path != "/":
			return "", "", fmt.Errorf("freshnats: bus URL %s: a path (%q) means nothing to NATS", u.Redacted(), u.Path)
		case u.Fragment != "":
			return "", "", fmt.Errorf("freshnats: bus URL %s: a fragment means nothing to NATS", u.Redacted())
		case u.RawQuery != "" && i > 0:
			return "", "", fmt.Errorf("freshnats: bus URL %s: parameters go on the first URL of the list", u.Redacted())
		}
		if i == 0 {
			if query, err = url.ParseQuery(u.RawQuery); err != nil {
				return "", "", fmt.Errorf("freshnats: bus URL %s: parameters: %w", u.Redacted(), err)
			}
		}
		u.RawQuery, u.Path, u.RawPath = "", "", ""
		list = append(list, u.String())
		shown = append(shown, u.Redacted())
	}
	display = strings.Join(shown, ",")
	for name, values := range query {
		if len(values) != 1 {
			return "", "", fmt.Errorf("freshnats: bus URL %s: parameter %q given %d times", display, name, len(values))
		}
		v := values[0]
		switch name {
		case "jetstream":
			on, ok := parseURLBool(v)
			if !ok {
				return "", "", fmt.Errorf("freshnats: bus URL %s: jetstream=%q; want 1 or 0 (true or false)", display, v)
			}
			if o.JetStream && !on {
				return "", "", fmt.Errorf("freshnats: bus URL %s: jetstream=%s contradicts Options.JetStream", display, v)
			}
			o.JetStream = on
		case "namespace":
			if o.Namespace != "" && o.Namespace != v {
				return "", "", fmt.Errorf("freshnats: bus URL %s: namespace=%q contradicts Options.Namespace %q", display, v, o.Namespace)
			}
			if v == "" {
				return "", "", fmt.Errorf("freshnats: bus URL %s: empty namespace", display)
			}
			o.Namespace = v
		default:
			return "", "", fmt.Errorf("freshnats: bus URL %s: unknown parameter %q; known: jetstream, namespace", display, name)
		}
	}
	return strings.Join(list, ","), display, nil
}

// parseURLBool reads a boolean parameter.
func parseURLBool(v string) (on, ok bool) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, true
	case "0", "false", "no", "off":
		return false, true
	}
	return false, false
}

// urlError wraps an error of url.Parse about item i of the list. A *url.Error quotes
// the URL, which may hold a password, so only its cause is kept; a cause that still
// shows a piece of the URL with user information (an '@') is withheld.
func urlError(i int, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if strings.Contains(err.Error(), "@") {
		return fmt.Errorf("freshnats: bus URL item %d is malformed (details withheld: they would show its user information)", i+1)
	}
	return fmt.Errorf("freshnats: bus URL item %d is malformed: %w", i+1, err)
}

// redactURL returns s without its password, if it is a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
