package browsertest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/chromedp/chromedp"
)

// dropJS dispatches dragenter, dragover and drop on the element, with a
// DataTransfer holding one File, as a browser does when a file is dragged from
// the desktop: drop only follows a dragover whose default was prevented.
const dropJS = `((sel, name, b64, mime) => {
	const el = document.querySelector(sel);
	if (!el) return "no element matches " + sel;
	const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
	const dt = new DataTransfer();
	dt.items.add(new File([bytes], name, {type: mime}));
	dt.dropEffect = "copy";
	dt.effectAllowed = "all";
	const r = el.getBoundingClientRect();
	const init = {bubbles: true, cancelable: true, composed: true, dataTransfer: dt,
		clientX: r.left + r.width / 2, clientY: r.top + r.height / 2};
	el.dispatchEvent(new DragEvent("dragenter", init));
	if (el.dispatchEvent(new DragEvent("dragover", init))) {
		el.dispatchEvent(new DragEvent("dragleave", init));
		return "the element refused the drop: its dragover handler did not call preventDefault()";
	}
	el.dispatchEvent(new DragEvent("drop", init));
	return "";
})`

// DropFile simulates dragging a file (name, content bytes, MIME type) onto the
// first element matching the CSS selector: dragenter, dragover and drop events
// whose DataTransfer holds the file, built in the page. As in a real browser,
// drop is only dispatched when the element's dragover handler accepts it
// (preventDefault); otherwise DropFile returns an error.
func DropFile(ctx context.Context, sel, name, content, mime string) error {
	args, err := json.Marshal([]string{sel, name, base64.StdEncoding.EncodeToString([]byte(content)), mime})
	if err != nil {
		return fmt.Errorf("drop %s onto %s: %w", name, sel, err)
	}
	js := dropJS + "(..." + string(args) + ")"
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		return fmt.Errorf("drop %s onto %s: %w", name, sel, err)
	}
	if msg != "" {
		return fmt.Errorf("drop %s onto %s: %s", name, sel, msg)
	}
	return nil
}
