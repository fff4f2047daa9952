package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/store"
	"github.com/google/go-cmp/cmp"
)

// testTenantChallenges sets, replaces, lists and clears a tenant's
// challenge policy; invalid rules store nothing.
func testTenantChallenges(t *testing.T, open OpenFunc) {
	clk := &clock{now: ms(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))}
	db := newStore(t, open, store.Options{Now: clk.Now})
	ctx := t.Context()
	tenant, other := uid("tenant_"), uid("tenant_")

	_, ok, err := db.TenantChallenges(ctx, tenant)
	if err != nil || ok {
		t.Fatalf("TenantChallenges before any policy = %v, %v; want none", ok, err)
	}
	first := biometric.ChallengeRules{Steps: 3, Actions: []biometric.ChallengeType{
		biometric.ChallengeBlink, biometric.ChallengeNod, biometric.ChallengeSmile}, ScreenLight: true}
	mustNil(t, db.SetTenantChallenges(ctx, tenant, first), "SetTenantChallenges")
	got, ok, err := db.TenantChallenges(ctx, tenant)
	mustNil(t, err, "TenantChallenges")
	if !ok || !cmp.Equal(got, first) {
		t.Errorf("TenantChallenges = %+v, %v; want %+v", got, ok, first)
	}

	// Setting again replaces the policy, First and ScreenLight included.
	clk.Set(clk.Now().Add(time.Hour))
	second := biometric.ChallengeRules{Steps: 2,
		First:   []biometric.ChallengeType{biometric.ChallengeBlink},
		Actions: []biometric.ChallengeType{biometric.ChallengeTurnLeft, biometric.ChallengeTurnRight}}
	mustNil(t, db.SetTenantChallenges(ctx, tenant, second), "SetTenantChallenges again")
	got, ok, err = db.TenantChallenges(ctx, tenant)
	mustNil(t, err, "TenantChallenges")
	if !ok || !cmp.Equal(got, second) {
		t.Errorf("TenantChallenges after replacing = %+v, %v; want %+v", got, ok, second)
	}
	if _, ok, _ := db.TenantChallenges(ctx, other); ok {
		t.Errorf("another tenant has a policy")
	}

	// Invalid rules are refused and leave the stored policy alone.
	bad := biometric.ChallengeRules{Steps: 4, Actions: []biometric.ChallengeType{biometric.ChallengeBlink, "wink"}}
	wantKind(t, db.SetTenantChallenges(ctx, tenant, bad), biometric.KindInvalid, "invalid_challenge_policy")
	wantKind(t, db.SetTenantChallenges(ctx, other, biometric.ChallengeRules{Steps: 3, Actions: second.Actions}),
		biometric.KindInvalid, "invalid_challenge_policy")
	if got, _, _ := db.TenantChallenges(ctx, tenant); !cmp.Equal(got, second) {
		t.Errorf("an invalid policy changed the stored one to %+v", got)
	}
	if _, ok, _ := db.TenantChallenges(ctx, other); ok {
		t.Errorf("an invalid policy was stored")
	}

	list, err := db.ListTenantChallenges(ctx)
	mustNil(t, err, "ListTenantChallenges")
	i := slices.IndexFunc(list, func(c store.TenantChallengeInfo) bool { return c.Tenant == tenant })
	if i < 0 {
		t.Fatalf("ListTenantChallenges does not list %s: %+v", tenant, list)
	}
	if want := (store.TenantChallengeInfo{Tenant: tenant, Rules: second, SetAt: clk.Now()}); !cmp.Equal(list[i], want) {
		t.Errorf("ListTenantChallenges lists %+v; want %+v", list[i], want)
	}
	if !slices.IsSortedFunc(list, func(a, b store.TenantChallengeInfo) int { return strings.Compare(a.Tenant, b.Tenant) }) {
		t.Errorf("ListTenantChallenges is not sorted by tenant")
	}

	mustNil(t, db.ClearTenantChallenges(ctx, tenant), "ClearTenantChallenges")
	wantNotFound(t, db.ClearTenantChallenges(ctx, tenant))
	if _, ok, err := db.TenantChallenges(ctx, tenant); ok || err != nil {
		t.Errorf("TenantChallenges after clearing = %v, %v; want none", ok, err)
	}
}
