package soundness

import "math/rand/v2"

// A template is a statement of the generator: SQL with {t0} and {t1} for the
// case's tables and ? for parameters (turned into the dialect's), and the
// arguments it draws.
type template struct {
	sql  string
	args func(r *rand.Rand) []any
}

// Values are drawn from small domains, so that reads and writes collide often.
func val(r *rand.Rand) any { return int64(r.IntN(4)) }
func id(r *rand.Rand) any  { return int64(1 + r.IntN(12)) }
func str(r *rand.Rand) any { return []string{"p", "q", "r"}[r.IntN(3)] }
func args(gens ...func(*rand.Rand) any) func(*rand.Rand) []any {
	return func(r *rand.Rand) []any {
		out := make([]any, len(gens))
		for i, g := range gens {
			out[i] = g(r)
		}
		return out
	}
}

// reads cover equalities, IN lists, ranges, joins (inner and outer), aggregates,
// ORDER BY with LIMIT, subqueries (IN, EXISTS, scalar), CTEs (plain and
// recursive), UNION, GROUP BY with HAVING, OR and NOT.
var reads = []template{
	{`SELECT id, a, b, c FROM {t0} WHERE a = ? ORDER BY id`, args(val)},
	{`SELECT id FROM {t0} WHERE a = ? AND b = ? ORDER BY id`, args(val, val)},
	{`SELECT id, b FROM {t0} WHERE a IN (?, ?) ORDER BY id`, args(val, val)},
	{`SELECT id FROM {t0} WHERE b > ? ORDER BY id`, args(val)},
	{`SELECT count(*), coalesce(sum(b), 0) FROM {t0} WHERE a = ?`, args(val)},
	{`SELECT {t0}.id, {t1}.id, {t1}.x FROM {t0} JOIN {t1} ON {t1}.t0_id = {t0}.id WHERE {t0}.a = ? ORDER BY 1, 2`, args(val)},
	{`SELECT a0.id, b1.x FROM {t0} a0 LEFT JOIN {t1} b1 ON b1.t0_id = a0.id AND b1.x = ? WHERE a0.b = ? ORDER BY 1, 2`, args(val, val)},
	{`SELECT id FROM {t0} WHERE id IN (SELECT t0_id FROM {t1} WHERE x = ?) ORDER BY id`, args(val)},
	{`WITH c AS (SELECT id, b FROM {t0} WHERE a = ?) SELECT id FROM c WHERE b = ? ORDER BY id`, args(val, val)},
	{`SELECT id FROM {t0} WHERE a = ? UNION SELECT t0_id FROM {t1} WHERE x = ? ORDER BY 1`, args(val, val)},
	{`SELECT id FROM {t0} WHERE a = ? ORDER BY b, id LIMIT 2`, args(val)},
	{`SELECT id FROM {t0} WHERE a = ? AND EXISTS (SELECT 1 FROM {t1} WHERE {t1}.t0_id = {t0}.id AND {t1}.x = ?) ORDER BY id`, args(val, val)},
	{`SELECT a, count(*) FROM {t0} WHERE b = ? GROUP BY a ORDER BY a`, args(val)},
	{`SELECT id FROM {t0} WHERE a = 2 AND b IN (1, 3) ORDER BY id`, args()},
	{`SELECT id, c FROM {t0} WHERE c = ? ORDER BY id`, args(str)},
	{`SELECT x, count(*) FROM {t1} GROUP BY x HAVING count(*) > ? ORDER BY x`, args(func(r *rand.Rand) any { return int64(r.IntN(2)) })},
	{`SELECT id FROM {t0} WHERE NOT (a = ?) ORDER BY id`, args(val)},
	{`SELECT id FROM {t0} WHERE a = ? OR b = ? ORDER BY id`, args(val, val)},
	{`WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 3) SELECT {t0}.id FROM {t0}, n WHERE {t0}.a = n.k AND {t0}.b = ? ORDER BY 1`, args(val)},
	{`SELECT (SELECT count(*) FROM {t1} WHERE {t1}.t0_id = {t0}.id), id FROM {t0} WHERE b = ? ORDER BY id`, args(val)},
	{`SELECT id FROM {t0} WHERE a = ? AND id = ?`, args(val, id)},
	{`SELECT t.id FROM (SELECT id, a FROM {t0} WHERE b = ?) t WHERE t.a = ? ORDER BY 1`, args(val, val)},
	{`SELECT id FROM {t1} WHERE t0_id = ? AND x IN (?, 1) ORDER BY id`, args(id, val)},
}

// writes cover inserts (one and several rows, with columns left to their
// default, from a SELECT), updates (pinned by key, by a scope's columns, by IN,
// by nothing, no-op, moving rows between scopes), deletes, an upsert and a
// delete with a subquery.
var writes = []template{
	{`INSERT INTO {t0} (id, a, b, c) VALUES (?, ?, ?, ?)`, args(id, val, val, str)},
	{`INSERT INTO {t0} (id, a) VALUES (?, ?)`, args(id, val)},
	{`INSERT INTO {t0} (id, a, b, c) VALUES (?, ?, ?, ?), (?, ?, ?, ?)`, args(id, val, val, str, id, val, val, str)},
	{`UPDATE {t0} SET a = ? WHERE id = ?`, args(val, id)},
	{`UPDATE {t0} SET b = b + 1 WHERE a = ?`, args(val)},
	{`UPDATE {t0} SET a = ?, b = ? WHERE a = ? AND b = ?`, args(val, val, val, val)},
	{`UPDATE {t0} SET c = ? WHERE a IN (?, ?)`, args(str, val, val)},
	{`DELETE FROM {t0} WHERE id = ?`, args(id)},
	{`DELETE FROM {t0} WHERE a = ?`, args(val)},
	{`INSERT INTO {t1} (id, t0_id, x, y) VALUES (?, ?, ?, ?)`, args(id, id, val, str)},
	{`UPDATE {t1} SET t0_id = ? WHERE id = ?`, args(id, id)},
	{`UPDATE {t1} SET x = ? WHERE x = ?`, args(val, val)},
	{`DELETE FROM {t1} WHERE x > ?`, args(val)},
	{`{upsert}`, args(id, val, val)},
	{`UPDATE {t0} SET a = a WHERE id = ?`, args(id)},
	{`INSERT INTO {t1} (id, t0_id, x, y) SELECT id + 100, id, a, c FROM {t0} WHERE b = ?`, args(val)},
	{`DELETE FROM {t1} WHERE t0_id IN (SELECT id FROM {t0} WHERE a = ?)`, args(val)},
	{`UPDATE {t0} SET b = ? WHERE c = ?`, args(val, str)},
	{`UPDATE {t0} SET a = ?`, args(val)},
	{`UPDATE {t0} SET b = ? WHERE id IN (?, ?)`, args(val, id, id)},
}
