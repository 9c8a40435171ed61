package fakegraph

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// SkuEnterprisePack is the skuId of Office 365 E3 (ENTERPRISEPACK), the
// licence LoadSample assigns.
const SkuEnterprisePack = "6fd2c87f-b296-4371-a54b-5fc5a6b5a7c4"

// Sample describes what LoadSample put in the tenant.
type Sample struct {
	Users    int      // users created, the guest included
	AdminID  string   // the Global Administrator (user0001)
	GuestID  string   // the guest user
	Disabled []string // ids of the disabled users
	// AllStaffID and EngineeringID are the two mail-enabled groups;
	// Engineering is nested in All Staff.
	AllStaffID, EngineeringID string
}

var (
	sampleGiven   = []string{"Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "John", "Ken"}
	sampleSurname = []string{"Lovelace", "Turing", "Liskov", "Shannon", "Knuth", "Dijkstra", "Allen", "Hopper", "Backus", "Thompson"}
	sampleDept    = []string{"Engineering", "Sales", "Finance", "Support"}
)

// sampleID is a stable object id for a name, so that a restarted sample
// tenant has the same ids.
func sampleID(name string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("fakegraph sample "+name)).String()
}

// LoadSample fills the tenant with n users in domain (user0001@domain ...,
// userPrincipalName = mail, one alias smtp:given.surname@domain each), every
// tenth one disabled and the last one a guest, user0001 Global Administrator;
// Members that are enabled hold an E3 licence, and every third one has an
// onPremisesImmutableId. It adds two mail-enabled groups: Engineering (the
// users of that department) nested in All Staff (every enabled member).
func (s *Server) LoadSample(n int, domain string) Sample {
	if n < 1 {
		n = 1
	}
	sm := Sample{Users: n, AllStaffID: sampleID("group all-staff"), EngineeringID: sampleID("group engineering")}
	var staff, eng []string
	for i := 1; i <= n; i++ {
		local := fmt.Sprintf("user%04d", i)
		id := sampleID(local)
		k := i - 1
		given, surname := sampleGiven[k%len(sampleGiven)], sampleSurname[(k/len(sampleGiven))%len(sampleSurname)]
		alias := strings.ToLower(given + "." + surname)
		if k >= len(sampleGiven)*len(sampleSurname) {
			alias += fmt.Sprint(k / (len(sampleGiven) * len(sampleSurname)))
		}
		mail := local + "@" + domain
		u := User{
			ID: id, UserPrincipalName: mail, Mail: mail,
			ProxyAddresses: []string{"SMTP:" + mail, "smtp:" + alias + "@" + domain},
			DisplayName:    given + " " + surname, GivenName: given, Surname: surname,
			BusinessPhones: []string{fmt.Sprintf("+1 555 01%02d %04d", k%100, i)},
			Department:     sampleDept[k%len(sampleDept)], JobTitle: "Engineer",
			AccountEnabled: i%10 != 0, UserType: "Member",
		}
		if i%3 == 0 {
			guid := uuid.MustParse(sampleID("ad " + local)) // the AD objectGUID, not the Entra id
			u.OnPremisesImmutableID = base64.StdEncoding.EncodeToString(guid[:])
		}
		switch {
		case i == n && n > 1:
			u.UserType, u.AccountEnabled = "Guest", true
			u.Mail = alias + "@partner.example"
			u.UserPrincipalName = alias + "_partner.example#EXT#@" + domain
			u.ProxyAddresses = []string{"SMTP:" + u.Mail}
			u.OtherMails = []string{u.Mail}
			u.Department, u.JobTitle, u.OnPremisesImmutableID = "", "", ""
			sm.GuestID = id
		case !u.AccountEnabled:
			sm.Disabled = append(sm.Disabled, id)
		default:
			u.AssignedLicenses = []string{SkuEnterprisePack}
			staff = append(staff, id)
			if u.Department == "Engineering" {
				eng = append(eng, id)
			}
		}
		if i == 1 {
			u.JobTitle, u.AccountEnabled, u.AssignedLicenses = "IT Administrator", true, []string{SkuEnterprisePack}
			sm.AdminID = id
		}
		s.PutUser(u)
	}
	s.PutGroup(Group{ID: sm.EngineeringID, DisplayName: "Engineering", Mail: "engineering@" + domain, MailEnabled: true,
		ProxyAddresses: []string{"SMTP:engineering@" + domain}, Members: eng})
	s.PutGroup(Group{ID: sm.AllStaffID, DisplayName: "All Staff", Mail: "all-staff@" + domain, MailEnabled: true,
		ProxyAddresses: []string{"SMTP:all-staff@" + domain, "smtp:staff@" + domain}, Members: append(staff, sm.EngineeringID)})
	s.SetRoleMembers("Global Administrator", sm.AdminID)
	return sm
}
