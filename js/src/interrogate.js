// The interrogation panels of issue 13, registered on import: 'inspect' (click popover),
// 'selection' (images and composition), 'confusion', 'curves', 'sample' (history), 'events'.
import './inspect.js';
import './selection.js';
import './confusion.js';
import './curves.js';
import './sample.js';
import './events.js';
