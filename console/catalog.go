package console

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/api"
	"github.com/dirsync/dirsync/csvimport"
	"github.com/dirsync/dirsync/store"
)

// The catalogues (domains and roles) and the CSV import: the pages of the
// portal's "Domains", "Roles" and "Add Users Manually" screens.

// catalogRoutes are the domains, roles and import pages.
func (c *Console) catalogRoutes() []route {
	return []route{
		{"GET " + Prefix + "domains", PermRead, c.domainsPage},
		{"POST " + Prefix + "domains", PermDomains, c.addDomain},
		{"GET " + Prefix + "roles", PermRead, c.rolesPage},
		{"POST " + Prefix + "roles", PermRoles, c.addRole},
		{"GET " + Prefix + "import", PermImports, c.importPage},
		{"GET " + Prefix + "import/template", PermImports, c.importTemplate},
		{"POST " + Prefix + "import", PermImports, c.importFile},
	}
}

// domainsView is the data of templates/domains.html.
type domainsView struct {
	Domains []api.Domain
	Name    string   // the name typed in the add form
	Problem *problem // why the domain was not added
}

func (domainsView) PageTitle() string { return "Domains" }

func (c *Console) domainsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.renderDomains(w, r, s, http.StatusOK, domainsView{})
}

func (c *Console) renderDomains(w http.ResponseWriter, r *http.Request, s *session, status int, v domainsView) error {
	list, err := c.svc.Domains(r.Context())
	if err != nil {
		return fmt.Errorf("list the domains: %w", err)
	}
	v.Domains = list.Domains
	c.render(w, r, s, status, "domains", v)
	return nil
}

// addDomain adds an internal domain; a refusal (an invalid name, a domain
// already added) is shown next to the name.
func (c *Console) addDomain(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return c.renderDomains(w, r, s, http.StatusBadRequest, domainsView{Problem: unreadableForm()})
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	d, err := c.svc.AddDomain(r.Context(), s.actor(), api.Domain{Name: name})
	if err != nil {
		p := c.describe(r, err)
		if p.Status >= http.StatusInternalServerError {
			return err
		}
		if p.Fields["name"] == "" {
			p.Fields["name"] = p.Message
		}
		return c.renderDomains(w, r, s, p.Status, domainsView{Name: name, Problem: p})
	}
	return c.done(w, r, s, Prefix+"domains", "Added the domain "+d.Name+".")
}

// rolesView is the data of templates/roles.html.
type rolesView struct {
	Roles       []api.Role
	Permissions []permission // every permission a role may hold, for the add form
	Name        string       // the name typed in the add form
	Problem     *problem
}

func (rolesView) PageTitle() string { return "Roles" }

// permission is one checkbox of the add-role form.
type permission struct {
	Name    string
	About   string
	Checked bool
}

// permissionAbout says what each permission lets its holders do.
var permissionAbout = map[string]string{
	"users.read":     "see users, domains and roles",
	"users.write":    "create, edit, register, invite, unlock and remove users",
	"roles.manage":   "add roles and assign them",
	"domains.manage": "add internal domains",
	"imports":        "import users from a CSV file",
	"sync":           "run directory syncs",
	"support":        "open and follow support cases",
	PermConsole:      "sign in to this console",
}

func (c *Console) rolesPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.renderRoles(w, r, s, http.StatusOK, rolesView{})
}

func (c *Console) renderRoles(w http.ResponseWriter, r *http.Request, s *session, status int, v rolesView) error {
	list, err := c.svc.Roles(r.Context())
	if err != nil {
		return fmt.Errorf("list the roles: %w", err)
	}
	v.Roles = list.Roles
	checked := map[string]bool{}
	if v.Problem != nil {
		for _, p := range r.PostForm["permissions"] {
			checked[p] = true
		}
	}
	for _, p := range store.Permissions {
		v.Permissions = append(v.Permissions, permission{Name: p, About: permissionAbout[p], Checked: checked[p]})
	}
	c.render(w, r, s, status, "roles", v)
	return nil
}

// addRole defines a role with the checked permissions.
func (c *Console) addRole(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return c.renderRoles(w, r, s, http.StatusBadRequest, rolesView{Problem: unreadableForm()})
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	perms := slices.DeleteFunc(slices.Clone(r.PostForm["permissions"]), func(p string) bool { return p == "" })
	ro, err := c.svc.AddRole(r.Context(), s.actor(), api.Role{Name: name, Permissions: perms})
	if err != nil {
		p := c.describe(r, err)
		if p.Status >= http.StatusInternalServerError {
			return err
		}
		if p.Code == api.CodeRoleExists && p.Fields["name"] == "" {
			p.Fields["name"] = p.Message
		}
		return c.renderRoles(w, r, s, p.Status, rolesView{Name: name, Problem: p})
	}
	return c.done(w, r, s, Prefix+"roles", "Added the role "+ro.Name+".")
}

// parseForm reads an ordinary (url-encoded) form within maxFormBody.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("read the form: %w", err)
	}
	return nil
}

func unreadableForm() *problem {
	return &problem{Status: http.StatusBadRequest, Fields: map[string]string{},
		Message: "The form could not be read (too large or malformed), so nothing was changed. Reload the page and try again."}
}

// The console's import limits: the "oversized upload" is a file over
// 1 MiB (500 rows of the template fit in far less); the request around it may
// add a little for the multipart framing.
const (
	maxImportFile    = 1 << 20
	maxImportRequest = 4 << 20
	importFileField  = "file"
)

// importView is the data of templates/import.html.
type importView struct {
	MaxAddresses int
	File         string // the uploaded file's name
	Problem      *problem
	Result       *api.ImportResult
}

func (importView) PageTitle() string { return "Import users" }

// FileProblems says whether the refusal lists problems by row (a table is
// worth showing), rather than one message about the whole file.
func (v importView) FileProblems() bool {
	return v.Problem != nil && slices.ContainsFunc(v.Problem.Rows, func(p api.ImportProblem) bool { return p.Row > 0 })
}

func (c *Console) importPage(w http.ResponseWriter, r *http.Request, s *session) error {
	c.render(w, r, s, http.StatusOK, "import", importView{MaxAddresses: csvimport.MaxAddresses})
	return nil
}

// importTemplate downloads the CSV template, the same file as the API's.
func (c *Console) importTemplate(w http.ResponseWriter, r *http.Request, _ *session) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="dirsync-import-template.csv"`)
	_, err := w.Write(c.svc.ImportTemplate())
	if err != nil {
		return fmt.Errorf("write the import template: %w", err)
	}
	return nil
}

// importFile imports the uploaded CSV file, all or nothing: the summary, or
// every problem with its row and column.
func (c *Console) importFile(w http.ResponseWriter, r *http.Request, s *session) error {
	v := importView{MaxAddresses: csvimport.MaxAddresses}
	refuse := func(status int, msg string) error {
		v.Problem = &problem{Status: status, Message: msg, Fields: map[string]string{}}
		v.Problem.Fields[importFileField] = msg
		c.render(w, r, s, status, "import", v)
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxImportRequest)
	name, body, err := readUpload(r)
	v.File = name
	switch {
	case errors.Is(err, errTooLarge):
		// Read the rest (within the request limit) so the browser gets the
		// answer rather than a reset connection while it is still sending.
		_, _ = io.Copy(io.Discard, r.Body)
		return refuse(http.StatusRequestEntityTooLarge, fmt.Sprintf("The file is larger than 1 MiB, so nothing was imported. "+
			"An import takes at most %d addresses: split the file into batches and import them one by one.", csvimport.MaxAddresses))
	case errors.Is(err, errNoFile):
		return refuse(http.StatusBadRequest, "No file was chosen, so nothing was imported. Choose a CSV file (or drag it onto the page) and import it.")
	case err != nil:
		return refuse(http.StatusBadRequest, "The upload could not be read, so nothing was imported. Reload the page and choose the file again.")
	}
	res, err := c.svc.Import(r.Context(), s.actor(), body)
	if err != nil {
		p := c.describe(r, err)
		if p.Status >= http.StatusInternalServerError {
			return err
		}
		p.Message = upperFirst(p.Message)
		if n := len(p.Rows); p.Code == api.CodeImportInvalid && n > 1 {
			p.Message = fmt.Sprintf("Nothing was imported: the file has %d problems, each listed below with its row and column.", n)
		}
		p.Fields[importFileField] = p.Message
		v.Problem = p
		c.render(w, r, s, p.Status, "import", v)
		return nil
	}
	v.Result = &res
	c.render(w, r, s, http.StatusOK, "import", v)
	return nil
}

var (
	errTooLarge = errors.New("the import file is too large")
	errNoFile   = errors.New("no import file")
)

// readUpload reads the file part of a multipart upload, at most
// maxImportFile bytes of it, without spooling anything to disk.
func readUpload(r *http.Request) (string, []byte, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, fmt.Errorf("read the upload: %w", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return "", nil, errNoFile
		}
		if err != nil {
			return "", nil, uploadError(err)
		}
		if part.FormName() != importFileField {
			_ = part.Close()
			continue
		}
		return readPart(part)
	}
}

func readPart(part *multipart.Part) (string, []byte, error) {
	defer func() { _ = part.Close() }()
	name := part.FileName()
	body, err := io.ReadAll(io.LimitReader(part, maxImportFile+1))
	if err != nil {
		return name, nil, uploadError(err)
	}
	if len(body) > maxImportFile {
		return name, nil, errTooLarge
	}
	if name == "" && len(body) == 0 {
		return "", nil, errNoFile
	}
	return name, body, nil
}

func uploadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge
	}
	return fmt.Errorf("read the upload: %w", err)
}

// upperFirst starts a sentence of the API's ("nothing was imported: …").
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
