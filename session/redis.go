package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store kept in Redis, so every Caddy instance pointing at the
// same Redis shares sessions, logouts, signing keys and the access_token.
// Any redis.UniversalClient works: one server, Sentinel or Cluster (see
// NewRedisClient). Each command touches one key, so it is Cluster-safe;
// GetMulti pipelines single-key GETs rather than send one MGET. The store
// also carries messages between instances (Publish, Subscribe).
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a store that keeps key k at prefix+k, so that several
// deployments (or AppIDs) can share one Redis without seeing each other's
// keys; "wxauth:<appid>:" is a good prefix. The caller owns client and
// closes it after the store's last use.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

var _ Store = (*Redis)(nil)

// Get returns the value at key, or ErrNotFound.
//
// Errors never name the key: keys hold openids and token ids, which must not
// reach logs unless the operator opts in.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := r.client.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("session: redis get: %w", err)
	}
	return b, nil
}

// GetMulti sends one GET per key in a pipeline: one round trip, or on a
// Cluster one per node holding some of the keys, which go-redis sends in
// parallel. Not MGET: a Cluster refuses it for keys in different slots.
func (r *Redis) GetMulti(ctx context.Context, keys ...string) ([][]byte, error) {
	if len(keys) == 0 {
		return [][]byte{}, nil
	}
	cmds := make([]*redis.StringCmd, len(keys))
	// The pipeline's error is its first failed command's, redis.Nil for an
	// absent key included; each command's own error says more.
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, key := range keys {
			cmds[i] = p.Get(ctx, r.prefix+key)
		}
		return nil
	})
	out := make([][]byte, len(keys))
	for i, cmd := range cmds {
		b, cerr := cmd.Bytes()
		switch {
		case errors.Is(cerr, redis.Nil):
		case cerr != nil:
			return nil, fmt.Errorf("session: redis get-multi: %w", cerr)
		case b == nil:
			out[i] = []byte{} // present, empty
		default:
			out[i] = b
		}
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("session: redis get-multi: %w", err)
	}
	return out, nil
}

// Set stores value at key for ttl (SET PX).
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL("set", ttl); err != nil {
		return err
	}
	if err := r.client.Set(ctx, r.prefix+key, value, redisTTL(ttl)).Err(); err != nil {
		return fmt.Errorf("session: redis set: %w", err)
	}
	return nil
}

// SetNX stores value at key for ttl if key is absent (SET NX PX: the value
// and its expiry land together or not at all).
func (r *Redis) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("setnx", ttl); err != nil {
		return false, err
	}
	ok, err := r.client.SetNX(ctx, r.prefix+key, value, redisTTL(ttl)).Result()
	if err != nil {
		return false, fmt.Errorf("session: redis setnx: %w", err)
	}
	return ok, nil
}

// Expire makes key expire ttl from now (PEXPIRE), if it exists.
func (r *Redis) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkTTL("expire", ttl); err != nil {
		return false, err
	}
	ok, err := r.client.PExpire(ctx, r.prefix+key, redisTTL(ttl)).Result()
	if err != nil {
		return false, fmt.Errorf("session: redis expire: %w", err)
	}
	return ok, nil
}

// Delete removes key; an absent key is not an error.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := r.client.Del(ctx, r.prefix+key).Err(); err != nil {
		return fmt.Errorf("session: redis delete: %w", err)
	}
	return nil
}

// compareAndDeleteScript compares and deletes in one atomic step, so a value
// written between the two is never removed. GET of an absent key is false,
// never equal to a string; GET of a list raises WRONGTYPE, as Get does.
var compareAndDeleteScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// CompareAndDelete removes key if it holds exactly value (GET, compare and
// DEL in one script on one key, so it is Cluster-safe).
func (r *Redis) CompareAndDelete(ctx context.Context, key string, value []byte) (bool, error) {
	n, err := compareAndDeleteScript.Run(ctx, r.client, []string{r.prefix + key}, value).Int64()
	if err != nil {
		return false, fmt.Errorf("session: redis compare-and-delete: %w", err)
	}
	return n == 1, nil
}

// Push runs LPUSH, LTRIM and PEXPIRE in one MULTI/EXEC, so no other client
// sees the list untrimmed or without an expiry.
func (r *Redis) Push(ctx context.Context, key string, value []byte, keep int, ttl time.Duration) error {
	if err := checkTTL("push", ttl); err != nil {
		return err
	}
	if keep < 1 {
		return fmt.Errorf("session: push: keep must be at least 1, got %d", keep)
	}
	k := r.prefix + key
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, k, value)
		p.LTrim(ctx, k, 0, int64(keep-1))
		p.PExpire(ctx, k, redisTTL(ttl))
		return nil
	})
	if err != nil {
		return fmt.Errorf("session: redis push: %w", err)
	}
	return nil
}

// List returns the list at key, newest first; an absent key is empty.
func (r *Redis) List(ctx context.Context, key string) ([][]byte, error) {
	items, err := r.client.LRange(ctx, r.prefix+key, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("session: redis list: %w", err)
	}
	out := make([][]byte, len(items))
	for i, item := range items {
		out[i] = []byte(item)
	}
	return out, nil
}

// maxUpdateTries bounds Update's optimistic retries; only a key rewritten
// by others that many times in a row while change runs exhausts it.
const maxUpdateTries = 64

// Update is optimistic: WATCH key, GET it, run change, then SET PX in
// MULTI/EXEC, which fails if key changed after the WATCH; then it starts
// again. One key, so it is Cluster-safe.
func (r *Redis) Update(ctx context.Context, key string, ttl time.Duration, change func(old []byte) ([]byte, error)) error {
	if err := checkTTL("update", ttl); err != nil {
		return err
	}
	k := r.prefix + key
	for range maxUpdateTries {
		var changeErr error
		err := r.client.Watch(ctx, func(tx *redis.Tx) error {
			old, err := tx.Get(ctx, k).Bytes()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			value, err := change(old)
			if err != nil || value == nil {
				changeErr = err
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, k, value, redisTTL(ttl))
				return nil
			})
			return err
		}, k)
		switch {
		case changeErr != nil:
			return changeErr
		case errors.Is(err, redis.TxFailedErr):
			continue
		case err != nil:
			return fmt.Errorf("session: redis update: %w", err)
		}
		return nil
	}
	return fmt.Errorf("session: redis update: key changed by others %d times in a row", maxUpdateTries)
}

// EvictionPolicy returns the server's maxmemory-policy (CONFIG GET), which
// managed Redis services may refuse to tell.
func (r *Redis) EvictionPolicy(ctx context.Context) (string, error) {
	kv, err := r.client.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return "", fmt.Errorf("session: redis config get: %w", err)
	}
	policy, ok := kv["maxmemory-policy"]
	if !ok {
		return "", errors.New("session: redis config get: no maxmemory-policy in the answer")
	}
	return policy, nil
}

// incrScript counts and sets the window's expiry in one atomic step, so a
// crash between the two can never leave a counter that lives forever. It
// also repairs a counter found without an expiry (PTTL -1), whatever left it.
// Later hits leave the expiry alone: the window is fixed from the first hit.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) == -1 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// Incr adds one to the counter at key; a new counter expires ttl from now.
func (r *Redis) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := checkTTL("incr", ttl); err != nil {
		return 0, err
	}
	n, err := incrScript.Run(ctx, r.client, []string{r.prefix + key}, redisTTL(ttl).Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("session: redis incr: %w", err)
	}
	return n, nil
}

// redisTTL rounds a positive ttl up to Redis's resolution of a millisecond;
// go-redis would otherwise log a warning for anything shorter.
func redisTTL(ttl time.Duration) time.Duration {
	return max(ttl, time.Millisecond)
}
