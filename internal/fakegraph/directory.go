package fakegraph

import (
	"bytes"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// objState is where an object is: in the directory, in deleted items (users
// only), or gone for good (kept as a tombstone so delta can report it).
type objState int

const (
	stateActive objState = iota
	stateSoftDeleted
	stateHardDeleted
)

// tracked is the change bookkeeping shared by users and groups. Sequence
// numbers come from directory.seq; a delta round from sequence T reports what
// has a sequence above T.
type tracked struct {
	id       string
	state    objState
	stateSeq uint64   // last state change (create, delete, restore)
	fullSeq  uint64   // created or restored: a round from before it sends every property
	propSeq  []uint64 // last change of each property
	encoded
}

// update replaces the encoded values and bumps the sequence of every property
// whose encoding changed. It reports whether any did.
func (t *tracked) update(e encoded, seq uint64) bool {
	changed := false
	for i := range t.propSeq {
		if t.off == nil || !bytes.Equal(t.value(i), e.value(i)) {
			t.propSeq[i] = seq
			changed = true
		}
	}
	t.encoded = e
	return changed
}

type userRec struct {
	tracked
	user User
}

type groupRec struct {
	tracked
	group      Group
	members    []string          // sorted, unique
	memberSeq  uint64            // last membership change
	memberAdd  map[string]uint64 // current member -> when it was added
	memberGone map[string]uint64 // former member -> when it was removed
}

type roleRec struct {
	id, name, templateID, description string
	members                           []string
}

// directory is the fake tenant's contents. It is guarded by Server.dirMu.
type directory struct {
	seq uint64

	users       map[string]*userRec
	userList    []*userRec // by id once usersDirty is false
	usersDirty  bool
	byUPN       map[string]*userRec // lower-cased userPrincipalName
	groups      map[string]*groupRec
	groupList   []*groupRec
	groupsDirty bool
	roles       []*roleRec
}

func newDirectory() *directory {
	return &directory{users: map[string]*userRec{}, byUPN: map[string]*userRec{}, groups: map[string]*groupRec{}}
}

func (d *directory) next() uint64 {
	d.seq++
	return d.seq
}

func (d *directory) sortLists() {
	if d.usersDirty {
		slices.SortFunc(d.userList, func(a, b *userRec) int { return strings.Compare(a.id, b.id) })
		d.usersDirty = false
	}
	if d.groupsDirty {
		slices.SortFunc(d.groupList, func(a, b *groupRec) int { return strings.Compare(a.id, b.id) })
		d.groupsDirty = false
	}
}

func (d *directory) putUser(u User) {
	if u.ID == "" {
		panic("fakegraph: PutUser: User.ID is required")
	}
	u = cloneUser(u)
	seq := d.next()
	rec, ok := d.users[u.ID]
	if !ok {
		rec = &userRec{tracked: tracked{id: u.ID, propSeq: make([]uint64, numUserProps)}}
		d.users[u.ID] = rec
		if n := len(d.userList); n > 0 && d.userList[n-1].id > u.ID {
			d.usersDirty = true
		}
		d.userList = append(d.userList, rec)
	}
	if old := rec.user.UserPrincipalName; old != "" && d.byUPN[strings.ToLower(old)] == rec {
		delete(d.byUPN, strings.ToLower(old))
	}
	if !ok || rec.state != stateActive {
		rec.state, rec.stateSeq, rec.fullSeq = stateActive, seq, seq
	}
	rec.update(encodeUser(&u), seq)
	rec.user = u
	if u.UserPrincipalName != "" {
		d.byUPN[strings.ToLower(u.UserPrincipalName)] = rec
	}
}

func (d *directory) setUserState(id string, from []objState, to objState) {
	rec, ok := d.users[id]
	if !ok || !slices.Contains(from, rec.state) {
		return
	}
	seq := d.next()
	rec.state, rec.stateSeq = to, seq
	if to == stateActive {
		rec.fullSeq = seq
	}
	if to == stateHardDeleted && d.byUPN[strings.ToLower(rec.user.UserPrincipalName)] == rec {
		delete(d.byUPN, strings.ToLower(rec.user.UserPrincipalName))
	}
}

// activeUser finds a user in the directory by id or userPrincipalName.
func (d *directory) activeUser(key string) *userRec {
	rec := d.users[key]
	if rec == nil {
		rec = d.byUPN[strings.ToLower(key)]
	}
	if rec == nil || rec.state != stateActive {
		return nil
	}
	return rec
}

// dirObject is a user or a group met as a member.
type dirObject struct {
	id    string
	user  *userRec
	group *groupRec
}

// activeObject finds a user or group in the directory by id; its id is ""
// when there is none.
func (d *directory) activeObject(id string) dirObject {
	if u := d.users[id]; u != nil && u.state == stateActive {
		return dirObject{id: id, user: u}
	}
	if g := d.activeGroup(id); g != nil {
		return dirObject{id: id, group: g}
	}
	return dirObject{}
}

func (d *directory) activeGroup(id string) *groupRec {
	rec := d.groups[id]
	if rec == nil || rec.state != stateActive {
		return nil
	}
	return rec
}

func (d *directory) putGroup(g Group) {
	if g.ID == "" {
		panic("fakegraph: PutGroup: Group.ID is required")
	}
	g = cloneGroup(g)
	seq := d.next()
	rec, ok := d.groups[g.ID]
	if !ok {
		rec = &groupRec{tracked: tracked{id: g.ID, propSeq: make([]uint64, numGroupProps)},
			memberAdd: map[string]uint64{}, memberGone: map[string]uint64{}}
		d.groups[g.ID] = rec
		if n := len(d.groupList); n > 0 && d.groupList[n-1].id > g.ID {
			d.groupsDirty = true
		}
		d.groupList = append(d.groupList, rec)
	}
	if !ok || rec.state != stateActive {
		rec.state, rec.stateSeq, rec.fullSeq = stateActive, seq, seq
	}
	rec.update(encodeGroup(&g), seq)
	rec.group = g

	members := slices.Clone(g.Members)
	slices.Sort(members)
	members = slices.Compact(members)
	for _, m := range members {
		if _, was := rec.memberAdd[m]; !was {
			rec.memberAdd[m] = seq
			delete(rec.memberGone, m)
			rec.memberSeq = seq
		}
	}
	for m := range rec.memberAdd {
		if _, still := slices.BinarySearch(members, m); !still {
			delete(rec.memberAdd, m)
			rec.memberGone[m] = seq
			rec.memberSeq = seq
		}
	}
	rec.members = members
}

func (d *directory) deleteGroup(id string) {
	rec, ok := d.groups[id]
	if !ok || rec.state != stateActive {
		return
	}
	seq := d.next()
	rec.state, rec.stateSeq = stateHardDeleted, seq
}

// Template ids of the built-in directory roles the fake knows by name; any
// other name gets an id derived from it.
var roleTemplates = map[string]struct{ id, description string }{
	"global administrator": {"62e90394-69f5-4237-9190-012177145e10",
		"Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities."},
	"user administrator": {"fe930be7-5e62-47db-91af-98c3a49a38b1",
		"Can manage all aspects of users and groups, including resetting passwords for limited admins."},
	"privileged role administrator": {"e8611ab8-c189-46e8-94e1-60213ab1f814",
		"Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management."},
	"exchange administrator": {"29232cdf-9323-42fd-ade2-1d097af3e4de",
		"Can manage all aspects of the Exchange product."},
	"helpdesk administrator": {"729827e3-9c14-49f7-bb1b-9608f156bbb8",
		"Can reset passwords for non-administrators and Helpdesk Administrators."},
	"global reader": {"f2ef992c-3afb-46b9-b7cf-a126ee74c451",
		"Can read everything that a Global Administrator can, but not update anything."},
	"directory readers": {"88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
		"Can read basic directory information. Commonly used to grant directory read access to applications and guests."},
}

func (d *directory) setRoleMembers(name string, members []string) {
	d.next()
	for _, r := range d.roles {
		if strings.EqualFold(r.name, name) {
			r.members = slices.Clone(members)
			return
		}
	}
	t, ok := roleTemplates[strings.ToLower(name)]
	if !ok {
		t.id = uuid.NewSHA1(uuid.NameSpaceOID, []byte("fakegraph role "+strings.ToLower(name))).String()
		t.description = "Directory role " + name + " (fakegraph)."
	}
	d.roles = append(d.roles, &roleRec{id: uuid.NewString(), name: name, templateID: t.id,
		description: t.description, members: slices.Clone(members)})
}

func (d *directory) role(key string) *roleRec {
	for _, r := range d.roles {
		if r.id == key || strings.EqualFold(r.templateID, key) {
			return r
		}
	}
	return nil
}
