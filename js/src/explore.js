// The explore panels, registered on import: 'inspect' (click popover), 'selection' (images and
// composition), 'confusion', 'curves', 'sample' (history), 'events', 'datamap'
// (dataset cartography's variability × confidence, from the training dynamics columns). Their kernel side:
// dvi_widget/view/panels.py, answered from dvi_widget/view/explore.py.
import './inspect.js';
import './selection.js';
import './confusion.js';
import './curves.js';
import './sample.js';
import './events.js';
import './datamap.js';
import './inside.js'; // 'distributions' and 'network' (w.show_inside)
