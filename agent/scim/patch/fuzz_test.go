package patch

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rosterhq/roster/agent/scim"
	"github.com/rosterhq/roster/agent/scim/schema"
)

// FuzzApply parses arbitrary bodies and applies them to a fixed user and a
// fixed group (members in the document and kept apart). It must never panic;
// every error must be a 400 *scim.Error; the input must stay untouched; a
// result must be deterministic, marshal to JSON, and come back unchanged from
// rt.Canonicalize (the document Apply returns is already canonical).
func FuzzApply(f *testing.F) {
	for _, cs := range [][]applyCase{entraCases, userCases, groupCases} {
		for _, c := range cs {
			f.Add(c.body)
		}
	}
	f.Add(`{"Operations":[{"op":"add","path":"emails[type eq \"work\" and primary eq true and value eq 5].display","value":"x"}]}`)
	f.Add(`{"Operations":[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":["m"]}}}]}`)
	f.Add(`{"Operations":[{"op":"remove","path":"members[not (value eq \"x\")]"}]}`)
	for _, b := range hostileBodies {
		f.Add(b)
	}

	targets := []struct {
		rt  *schema.ResourceType
		doc string
		opt Options
	}{
		{schema.UserType, userInput, Options{}},
		{schema.GroupType, groupInput, Options{}},
		{schema.GroupType, groupSepInput, Options{MembersSeparate: true}},
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := Parse([]byte(body))
		if err != nil {
			check400(t, err)
			return
		}
		for _, tg := range targets {
			doc := decode(t, tg.doc)
			res, err := Apply(tg.rt, doc, req.Operations, tg.opt)
			if !reflect.DeepEqual(doc, decode(t, tg.doc)) {
				t.Fatalf("Apply modified its input")
			}
			if err != nil {
				check400(t, err)
				continue
			}
			if !tg.opt.MembersSeparate && res.MemberOps != nil {
				t.Fatalf("member ops without MembersSeparate: %+v", res.MemberOps)
			}
			b, err := json.Marshal(res.Doc)
			if err != nil {
				t.Fatalf("result does not marshal: %v", err)
			}
			var rt map[string]any
			if err := json.Unmarshal(b, &rt); err != nil {
				t.Fatalf("result does not unmarshal: %v", err)
			}
			again, err := tg.rt.Canonicalize(rt)
			if err != nil {
				t.Fatalf("Canonicalize of the result fails: %v\n%s", err, b)
			}
			// The inputs are clean, and Apply checks every value it writes
			// as client input: the result passes those checks too (no
			// control characters, lengths, types, unknown attributes).
			if _, err := tg.rt.CanonicalizeInput(rt); err != nil {
				t.Fatalf("the result holds what a client may not send: %v\n%s", err, b)
			}
			if !reflect.DeepEqual(roundTrip(t, again), rt) {
				a, _ := json.Marshal(again)
				t.Fatalf("result is not canonical:\n got %s\nthen %s", b, a)
			}
			res2, err := Apply(tg.rt, decode(t, tg.doc), req.Operations, tg.opt)
			if err != nil {
				t.Fatalf("second Apply failed: %v", err)
			}
			if !reflect.DeepEqual(roundTrip(t, res2.Doc), rt) || len(res2.MemberOps) != len(res.MemberOps) {
				t.Fatalf("Apply is not deterministic")
			}
		}
	})
}

func check400(t *testing.T, err error) {
	t.Helper()
	var se *scim.Error
	if !errors.As(err, &se) {
		t.Fatalf("error is not a *scim.Error: %v", err)
	}
	if se.Status != 400 || se.ScimType == "" {
		t.Fatalf("got %d %q, want a 400 with a scimType: %v", se.Status, se.ScimType, err)
	}
}

// FuzzOperation fuzzes one operation's parts directly, so the fuzzer spends
// its effort on paths and values rather than on the JSON framing, and checks
// the same properties as FuzzApply.
func FuzzOperation(f *testing.F) {
	for _, cs := range [][]applyCase{entraCases, userCases, groupCases} {
		for _, c := range cs {
			req, err := Parse([]byte(c.body))
			if err != nil {
				continue
			}
			for _, op := range req.Operations {
				f.Add(op.Op, op.Path, string(op.Value), c.rt == schema.GroupType, c.sep)
			}
		}
	}
	f.Fuzz(func(t *testing.T, op, path, value string, isGroup, sep bool) {
		rt, doc, opt := schema.UserType, userInput, Options{}
		if isGroup {
			rt, doc = schema.GroupType, groupInput
			if sep {
				doc, opt = groupSepInput, Options{MembersSeparate: true}
			}
		}
		var raw json.RawMessage
		if value != "" {
			raw = json.RawMessage(value)
		}
		ops := []Operation{{Op: op, Path: path, Value: raw}, {Op: op, Path: path, Value: raw}}
		in := decode(t, doc)
		res, err := Apply(rt, in, ops, opt)
		if !reflect.DeepEqual(in, decode(t, doc)) {
			t.Fatalf("Apply modified its input")
		}
		if err != nil {
			check400(t, err)
			return
		}
		b, err := json.Marshal(res.Doc)
		if err != nil {
			t.Fatalf("result does not marshal: %v", err)
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		again, err := rt.Canonicalize(back)
		if err != nil {
			t.Fatalf("Canonicalize of the result fails: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(roundTrip(t, again), back) {
			a, _ := json.Marshal(again)
			t.Fatalf("result is not canonical:\n got %s\nthen %s", b, a)
		}
		for _, m := range res.MemberOps {
			if m.Kind == RemoveAllMembers && raw != nil && !isJSONNull(raw) {
				t.Fatalf("a remove with a value removed all members")
			}
		}
	})
}

// hostileBodies seed the fuzzers with what issue 12 refuses: unknown and
// undeclared attributes, read-only targets, wrong types, control characters
// and over-long values, lone values for multi-valued attributes.
var hostileBodies = []string{
	`{"Operations":[{"op":"add","path":"favoriteColor","value":"blue"}]}`,
	`{"Operations":[{"op":"replace","value":{"favoriteColor":"blue","displayName":"x"}}]}`,
	`{"Operations":[{"op":"replace","value":{"id":"evil"}}]}`,
	`{"Operations":[{"op":"replace","value":{"meta":{"version":"W/\"9\""}}}]}`,
	`{"Operations":[{"op":"add","path":"groups","value":[{"value":"g"}]}]}`,
	`{"Operations":[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User:costCode","value":"1"}]}`,
	`{"Operations":[{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:Contoso:2.0:User":{"costCode":"1"}}}]}`,
	`{"Operations":[{"op":"replace","path":"displayName","value":"a\u0000b"}]}`,
	`{"Operations":[{"op":"replace","path":"userName","value":"a\nb"}]}`,
	`{"Operations":[{"op":"replace","path":"name.givenName","value":"\u001b[31m"}]}`,
	`{"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":"a\u0085b"}]}`,
	`{"Operations":[{"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"1 Main\nSuite 2"}]}`,
	`{"Operations":[{"op":"replace","path":"displayName","value":"` + strings.Repeat("a", 300) + `"}]}`,
	`{"Operations":[{"op":"replace","path":"userName","value":12345}]}`,
	`{"Operations":[{"op":"replace","path":"active","value":"yes"}]}`,
	`{"Operations":[{"op":"add","path":"emails","value":"x@y"}]}`,
	`{"Operations":[{"op":"add","path":"emails","value":{"value":"x@y"}}]}`,
	`{"Operations":[{"op":"replace","path":"name","value":["x"]}]}`,
	`{"Operations":[{"op":"replace","value":{"name.nickname":"x"}}]}`,
	`{"Operations":[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":5}]}`,
	`{"Operations":[{"op":"replace","path":"displayName","value":"\ud800"}]}`,
}
