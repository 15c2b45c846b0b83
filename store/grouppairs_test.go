package store

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeGroupPairs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []GroupRef
	}{
		{`[]`, []GroupRef{}},
		{` [ ] `, []GroupRef{}},
		{`[["a","Sales"]]`, []GroupRef{{"a", "Sales"}}},
		{`[["a",null],["b","x"]]`, []GroupRef{{"a", ""}, {"b", "x"}}},
		{`[ ["a" , "q\"uote\\d \u00e9\n"] ]`, []GroupRef{{"a", "q\"uote\\d é\n"}}},
		{`[["a","日本語"]]`, []GroupRef{{"a", "日本語"}}},
	} {
		got, err := decodeGroupPairs([]byte(tc.in))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("decodeGroupPairs(%s) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{``, `[`, `[[`, `[["a"]]`, `[["a","b"]`, `[["a","b"],]`, `[["a",1]]`, `[["a","b"]] x`, `{"a":1}`, `[["a","b\"]]`, `[["a","\x"]]`, `nul`} {
		if got, err := decodeGroupPairs([]byte(bad)); err == nil {
			t.Errorf("decodeGroupPairs(%s) = %#v, want an error", bad, got)
		}
	}
}

// TestDecodeGroupPairsMatchesJSON checks the decoder against encoding/json on
// random display names, control characters and quotes included.
func TestDecodeGroupPairsMatchesJSON(t *testing.T) {
	alphabet := []rune("aZ09 \"\\/\n\t\x00\x1e\x1fé日😀<>&\u2028")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		var want []GroupRef
		for j := rng.IntN(4); j > 0; j-- {
			var name strings.Builder
			for k := rng.IntN(12); k > 0; k-- {
				name.WriteRune(alphabet[rng.IntN(len(alphabet))])
			}
			want = append(want, GroupRef{ID: "id-" + name.String(), DisplayName: name.String()})
		}
		pairs := make([][2]string, len(want))
		for j, g := range want {
			pairs[j] = [2]string{g.ID, g.DisplayName}
		}
		in, _ := json.Marshal(pairs)
		got, err := decodeGroupPairs(in)
		if err != nil {
			t.Fatalf("decodeGroupPairs(%s): %v", in, err)
		}
		if want == nil {
			want = []GroupRef{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeGroupPairs(%s) = %q, want %q", in, got, want)
		}
	}
}

// TestQueryWithGroupsOrder checks the groups a query returns with a user:
// SQLite's JSON decoded, ordered by display name then id, like GroupsOf.
func TestQueryWithGroupsOrder(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, testLocation(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Write(ctx, func(tx *Tx) error {
		if err := tx.InsertTenant(&Tenant{ID: "t"}); err != nil {
			return err
		}
		u := &Resource{TenantID: "t", Kind: KindUser, ID: "u1", Doc: map[string]any{"userName": "u1@x"}, Version: 1}
		if err := tx.InsertResource(u); err != nil {
			return err
		}
		for i, name := range []string{"Zeta \"quoted\"", "alpha", "Zeta", "Élan\n"} {
			g := &Resource{TenantID: "t", Kind: KindGroup, ID: "g" + string(rune('4'-i)), Doc: map[string]any{"displayName": name}, Version: 1}
			if i == 2 {
				g.Doc = map[string]any{"displayName": name, "x": 1}
			}
			if err := tx.InsertResource(g); err != nil {
				return err
			}
			if _, err := tx.AddMembers("t", g.Seq, []Member{{Value: "u1", Type: KindUser}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []GroupRef
	var viaGroupsOf map[string][]GroupRef
	if err := db.Read(ctx, func(tx *Tx) error {
		page, err := tx.Query(Query{TenantID: "t", Kind: KindUser, Count: -1, WithGroups: true, Lazy: true})
		if err != nil {
			return err
		}
		if len(page.Resources) != 1 {
			t.Fatalf("got %d users", len(page.Resources))
		}
		got = page.Resources[0].Groups
		viaGroupsOf, err = tx.GroupsOf("t", []string{"u1"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Go and SQLite both order strings bytewise: "Z" < "a" < "É".
	want := []GroupRef{{"g2", "Zeta"}, {"g4", "Zeta \"quoted\""}, {"g3", "alpha"}, {"g1", "Élan\n"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Query WithGroups = %q, want %q", got, want)
	}
	if !reflect.DeepEqual(viaGroupsOf["u1"], want) {
		t.Errorf("GroupsOf = %q, want %q", viaGroupsOf["u1"], want)
	}
}

// TestLazyQueryDecodesManaged checks that a lazy read leaves the managed
// attributes, like the document, to Decode, and that Decode fills both.
func TestLazyQueryDecodesManaged(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, testLocation(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Write(ctx, func(tx *Tx) error {
		if err := tx.InsertTenant(&Tenant{ID: "t"}); err != nil {
			return err
		}
		return tx.InsertResource(&Resource{TenantID: "t", Kind: KindUser, ID: "u1", Doc: map[string]any{"userName": "u1@x"}, Managed: []string{"active", "userName"}})
	}); err != nil {
		t.Fatal(err)
	}
	for _, lazy := range []bool{true, false} {
		var r *Resource
		if err := db.Read(ctx, func(tx *Tx) error {
			page, err := tx.Query(Query{TenantID: "t", Kind: KindUser, Count: -1, Lazy: lazy})
			if err == nil && len(page.Resources) == 1 {
				r = page.Resources[0]
			}
			return err
		}); err != nil || r == nil {
			t.Fatalf("lazy=%v: %v, %v", lazy, r, err)
		}
		if lazy && (r.Doc != nil || r.Managed != nil) {
			t.Errorf("lazy read decoded: doc %v, managed %v", r.Doc, r.Managed)
		}
		if err := r.Decode(); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r.Managed, []string{"active", "userName"}) || r.Doc["userName"] != "u1@x" {
			t.Errorf("lazy=%v after Decode: managed %v, doc %v", lazy, r.Managed, r.Doc)
		}
	}
}
