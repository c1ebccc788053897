package protect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Why a merge left the host's file as it was.
var (
	// ErrContainerJSON: what the container wrote is not a JSON object.
	ErrContainerJSON = errors.New("what the container wrote is not a JSON object")
	// ErrHostJSON: the host's file is not a JSON object, so its keys cannot be taken from it.
	ErrHostJSON = errors.New("the host's file is not a JSON object")
)

// Merge is what the container wrote with keys as the host has them: each of keys at the top
// level, and in each object of the object under nested (when nested is not ""), is replaced by
// the host's value or removed when the host has none. Everything else is the container's,
// members in the order it wrote them; the result is indented by two spaces, as Claude Code
// writes it. A key the container wrote twice is handled everywhere it appears: a JSON parser
// keeps the last one.
func Merge(host, container []byte, keys []string, nested string) ([]byte, error) {
	c, err := parseObject(container)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrContainerJSON, err)
	}
	h, err := parseObject(host)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHostJSON, err)
	}
	c = restore(c, h, keys)
	if nested != "" {
		c = restoreNested(c, h, keys, nested)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, c.marshal(), "", "  "); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return out.Bytes(), nil
}

// restoreNested restores keys in each object under c[nested] from the host's object of the
// same name; an entry that is no object is dropped, and the host's entries the container
// dropped come back with their keys only.
func restoreNested(c, h object, keys []string, nested string) object {
	var hn object
	if raw, ok := h.get(nested); ok {
		hn, _ = parseObject(raw) // the host's own shape is its business: not an object, nothing to restore
	}
	var cn object
	if raw, ok := c.get(nested); ok {
		var err error
		if cn, err = parseObject(raw); err != nil {
			cn = nil // the container replaced it with something else: only the host's keys survive
		}
	}
	var out object
	seen := map[string]bool{}
	for _, m := range cn {
		e, err := parseObject(m.value)
		if err != nil {
			continue
		}
		he, _ := entry(hn, m.key)
		out = append(out, member{m.key, restore(e, he, keys).marshal()})
		seen[m.key] = true
	}
	for _, m := range hn {
		if seen[m.key] {
			continue
		}
		he, err := parseObject(m.value)
		if err != nil {
			continue
		}
		if kept := restore(nil, he, keys); len(kept) > 0 {
			out = append(out, member{m.key, kept.marshal()})
			seen[m.key] = true
		}
	}
	if out == nil {
		if _, had := c.get(nested); !had {
			return c
		}
		out = object{}
	}
	return c.set(nested, out.marshal())
}

// entry is the object under key in o, if there is one.
func entry(o object, key string) (object, error) {
	raw, ok := o.get(key)
	if !ok {
		return nil, nil
	}
	return parseObject(raw)
}

// restore gives c the host's value of each key, or removes it where the host has none.
func restore(c, h object, keys []string) object {
	for _, k := range keys {
		if v, ok := h.get(k); ok {
			c = c.set(k, v)
		} else {
			c = c.without(k)
		}
	}
	return c
}

// object is a JSON object's members in order, each value as written.
type object []member

type member struct {
	key   string
	value json.RawMessage
}

// parseObject reads one JSON object and nothing after it.
func parseObject(b []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not an object")
	}
	o := object{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("a key that is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o = append(o, member{key, v})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the object")
	}
	return o, nil
}

// get is the value of key, the last one written if it is there twice (as JSON.parse has it).
func (o object) get(key string) (json.RawMessage, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if o[i].key == key {
			return o[i].value, true
		}
	}
	return nil, false
}

// without is o with every member named key removed.
func (o object) without(key string) object {
	out := o[:0:0]
	for _, m := range o {
		if m.key != key {
			out = append(out, m)
		}
	}
	return out
}

// set puts v under key once: where key first was, or at the end.
func (o object) set(key string, v json.RawMessage) object {
	out := o[:0:0]
	done := false
	for _, m := range o {
		switch {
		case m.key != key:
			out = append(out, m)
		case !done:
			out = append(out, member{key, v})
			done = true
		}
	}
	if !done {
		out = append(out, member{key, v})
	}
	return out
}

func (o object) marshal() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}
