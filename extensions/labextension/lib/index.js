// Learning Studio's hints in JupyterLab: a "Hint" button on every exercise answer cell (nbgrader solution cells),
// a hint panel in the right sidebar (the hint, its rung, and "More specific" once another try or some time has
// passed), and learning events (each cell run; a test cell's run is a check of its exercise) sent to the server
// extension, which buffers them for the service.
// Plain JavaScript on JupyterLab's shared packages: built with @jupyterlab/builder, no bundle of its own.
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

const PANEL_ID = 'studio-hints-panel';

function nbgraderOf(cellModel) {
  const meta = cellModel.getMetadata ? cellModel.getMetadata('nbgrader') : undefined;
  return meta || {};
}

function isAnswer(cellModel) {
  const meta = nbgraderOf(cellModel);
  return cellModel.type === 'code' && meta.solution === true && !!meta.grade_id;
}

async function post(path, body) {
  const settings = ServerConnection.makeSettings();
  const url = settings.baseUrl.replace(/\/$/, '') + '/studio/hints/' + path;
  const resp = await ServerConnection.makeRequest(url, { method: 'POST', body: JSON.stringify(body) }, settings);
  let data = {};
  try {
    data = await resp.json();
  } catch (e) {
    data = { message: 'The hint could not be read.' };
  }
  return { status: resp.status, data };
}

// A hint is plain text with `code` spans and ``` blocks: shown as text, never as HTML.
function renderHint(text, into) {
  into.textContent = '';
  const blocks = text.split(/```[^\n`]*\n?/);
  blocks.forEach((part, i) => {
    if (i % 2 === 1) {
      const pre = document.createElement('pre');
      pre.textContent = part.replace(/\n$/, '');
      into.appendChild(pre);
      return;
    }
    part.split(/\n{2,}/).forEach(paragraph => {
      if (!paragraph.trim()) {
        return;
      }
      const p = document.createElement('p');
      paragraph.split(/(`[^`\n]+`)/).forEach(piece => {
        if (piece.startsWith('`') && piece.endsWith('`') && piece.length > 1) {
          const code = document.createElement('code');
          code.textContent = piece.slice(1, -1);
          p.appendChild(code);
        } else {
          p.appendChild(document.createTextNode(piece));
        }
      });
      into.appendChild(p);
    });
  });
}

class HintPanel extends Widget {
  constructor() {
    super();
    this.id = PANEL_ID;
    this.addClass('studio-HintPanel');
    this.title.label = 'Hints';
    this.title.caption = 'Hints for the exercise you are working on';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Hints');
    this.heading = document.createElement('h2');
    this.heading.textContent = 'Hints';
    this.rung = document.createElement('p');
    this.rung.className = 'studio-HintPanel-rung';
    this.text = document.createElement('div');
    this.text.className = 'studio-HintPanel-text';
    // Screen readers announce each new hint (and errors) without moving the focus.
    this.text.setAttribute('aria-live', 'polite');
    this.text.setAttribute('aria-atomic', 'true');
    this.text.textContent = 'Stuck on an exercise? Press "Hint" below its answer cell.';
    this.more = document.createElement('button');
    this.more.className = 'jp-Button studio-HintPanel-more';
    this.more.type = 'button';
    this.more.textContent = 'More specific';
    this.more.disabled = true;
    this.moreNote = document.createElement('p');
    this.moreNote.className = 'studio-HintPanel-note';
    this.moreNote.id = 'studio-hint-more-note';
    this.more.setAttribute('aria-describedby', this.moreNote.id);
    this.node.append(this.heading, this.rung, this.text, this.more, this.moreNote);
    this.current = null; // {panel, cell}
    this.timer = null;
    this.locked = false; // a more specific hint exists, waiting for another try or some time
    this.more.addEventListener('click', () => this.current && this.ask(this.current.panel, this.current.cell, true));
  }

  async ask(panel, cell, more) {
    this.current = { panel, cell };
    this.setBusy(true);
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const body = {
      path: panel.context.path,
      cell_id: cell.model.id,
      notebook: panel.context.model.toJSON(),
      kernel_id: kernel ? kernel.id : null,
      more: !!more
    };
    let result;
    try {
      result = await post('hint', body);
    } catch (e) {
      result = { status: 0, data: { message: 'The hints service could not be reached. Try again in a minute.' } };
    }
    this.setBusy(false);
    if (result.status !== 200) {
      this.rung.textContent = '';
      this.text.textContent = result.data.message || 'No hint right now.';
      this.more.disabled = true;
      this.moreNote.textContent = '';
      return;
    }
    const hint = result.data;
    this.rung.textContent = `Hint ${hint.rung} of ${hint.of}`;
    renderHint(hint.hint, this.text);
    this.updateMore(hint.more);
  }

  updateMore(more) {
    clearTimeout(this.timer);
    if (!more || !more.available) {
      this.locked = false;
      this.more.disabled = true;
      this.moreNote.textContent = 'This is the most specific hint.';
      return;
    }
    if (more.unlocked) {
      this.unlock();
      return;
    }
    this.locked = true;
    this.more.disabled = true;
    this.moreNote.textContent =
      `A more specific hint unlocks after you run your code again, or in ${Math.round(more.after_seconds)} s.`;
    this.timer = setTimeout(() => this.unlock(), more.after_seconds * 1000);
  }

  unlock() {
    clearTimeout(this.timer);
    this.locked = false;
    if (!this.current) {
      return;
    }
    this.more.disabled = false;
    this.moreNote.textContent = 'A more specific hint is available.';
  }

  setBusy(busy) {
    this.node.setAttribute('aria-busy', busy ? 'true' : 'false');
    if (busy) {
      this.text.textContent = 'Looking at your code…';
      this.more.disabled = true;
    }
  }
}

function addButtons(panel, hints, app) {
  for (const cell of panel.content.widgets) {
    if (!isAnswer(cell.model) || cell.node.querySelector('.studio-HintButton')) {
      continue;
    }
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'jp-Button studio-HintButton';
    button.textContent = 'Hint';
    button.setAttribute('aria-label', `Hint for exercise ${nbgraderOf(cell.model).grade_id}`);
    button.setAttribute('aria-controls', PANEL_ID);
    button.addEventListener('click', event => {
      event.stopPropagation();
      app.shell.activateById(PANEL_ID);
      hints.ask(panel, cell, false);
    });
    // Enter and Space press the button, and stop there: in the notebook they would also mean "edit this cell".
    button.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        event.stopPropagation();
        button.click();
      }
    });
    const bar = document.createElement('div');
    bar.className = 'studio-HintBar';
    bar.appendChild(button);
    cell.node.appendChild(bar);
  }
}

function isTest(cellModel) {
  const meta = nbgraderOf(cellModel);
  return cellModel.type === 'code' && meta.grade === true && meta.solution !== true;
}

// The exercise whose visible tests this cell is: the test cells right below an answer cell are its tests, as
// nbgrader lays an exercise out (the same rule the server extension and the hints service use).
function exerciseTestedBy(panel, cell) {
  const cells = panel.content.widgets;
  for (let i = cells.indexOf(cell) - 1; i >= 0; i--) {
    const model = cells[i].model;
    if (isAnswer(model)) {
      return nbgraderOf(model).grade_id;
    }
    if (!isTest(model)) {
      return null;
    }
  }
  return null;
}

// Each run is an event: an answer cell's names its exercise; a test cell's is a check of the exercise above it,
// with its result (the course's per-exercise pass rate counts these, not runs without an error).
function report(panel, cell, success, error) {
  const model = cell.model;
  const event = {
    kind: 'execute',
    path: panel.context.path,
    ok: !!success,
    code: model.sharedModel.getSource()
  };
  if (isAnswer(model)) {
    event.exercise = nbgraderOf(model).grade_id;
  } else if (isTest(model)) {
    const exercise = exerciseTestedBy(panel, cell);
    if (exercise) {
      event.kind = 'check';
      event.exercise = exercise;
    }
  }
  if (error && error.errorName) {
    event.ename = error.errorName;
  }
  post('events', { events: [event] }).catch(() => undefined); // never in the way of the learner's run
}

const plugin = {
  id: '@learning-studio/hints:plugin',
  description: 'Hint button, hint panel and learning events for exercises',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app, tracker) => {
    const hints = new HintPanel();
    app.shell.add(hints, 'right', { rank: 900 });

    tracker.widgetAdded.connect((_, panel) => {
      const refresh = () => addButtons(panel, hints, app);
      panel.context.ready.then(refresh);
      panel.content.modelContentChanged.connect(refresh);
    });

    NotebookActions.executed.connect((_, args) => {
      const panel = tracker.find(p => p.content === args.notebook);
      if (!panel) {
        return;
      }
      report(panel, args.cell, args.success, args.error);
      const current = hints.current;
      if (current && current.cell === args.cell && hints.locked) {
        hints.unlock(); // a new try at the exercise the hint was about
      }
    });
  }
};

export default plugin;
