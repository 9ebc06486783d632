#!/usr/bin/env node
// Saves the bundled workflows from the real ComfyUI frontend (headless Chromium).
//
//   node tools/export_workflows.mjs --url http://127.0.0.1:8188 --sources sources.json \
//        --out workflows [--shots DIR] [--chromium /usr/bin/chromium]
//   node tools/export_workflows.mjs --url http://127.0.0.1:8188 --sources sources.json \
//        --out workflows --shots DIR --saved
//
// For each entry of sources.json (written by tools/workflow_sources.py: an API-format
// graph and a markdown note), the page loads the graph as a user's "Open" of an API
// file does (app.loadApiJson), sets the seed to stay fixed, places the nodes in the
// given columns, adds a MarkdownNote left of them, fits the view, and writes what the frontend produces: <out>/<name>.json (app.graph.serialize(), the
// saved workflow) and <out>/api/<name>.json (app.graphToPrompt().output, "Export
// (API)"); --shots saves a screenshot <shots>/<name>.png for the thumbnail. With --saved,
// nothing is written but the screenshots, each of the saved <out>/<name>.json as it opens
// (its own layout and view, for thumbnails taken after `workflow_sources.py --layout`).
// playwright-core is resolved normally or from $PLAYWRIGHT_NODE_MODULES.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

function parseArgs(argv) {
  const options = { chromium: process.env.CHROMIUM || '/usr/bin/chromium', viewport: [1920, 1080] };
  for (let i = 0; i < argv.length; i += 1) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--url': options.url = value.replace(/\/+$/, ''); i += 1; break;
      case '--sources': options.sources = value; i += 1; break;
      case '--out': options.out = value; i += 1; break;
      case '--shots': options.shots = value; i += 1; break;
      case '--chromium': options.chromium = value; i += 1; break;
      case '--saved': options.saved = true; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!options.url || !options.sources || !options.out || (options.saved && !options.shots)) {
    throw new Error('usage: --url URL --sources sources.json --out DIR [--shots DIR [--saved]]');
  }
  return options;
}

async function playwright() {
  try { return await import('playwright-core'); } catch { /* try the configured folder */ }
  const folder = process.env.PLAYWRIGHT_NODE_MODULES || path.join(process.cwd(), 'node_modules');
  return createRequire(path.join(folder, 'noop.js'))('playwright-core');
}

// Runs in the page: the graph as the user would save it after opening the API file.
async function buildInPage({ name, prompt, note, columns }) {
  const { app, LiteGraph } = window;
  await app.loadApiJson(prompt, `${name}.json`);
  const graph = app.graph;
  for (const node of graph.nodes) {
    const control = node.widgets?.find((widget) => widget.name === 'control_after_generate');
    if (control) control.value = 'fixed';
  }
  // Our columns instead of LiteGraph's one-column-per-depth arrange: compact and readable.
  const placed = columns.flat().map(String);
  const unplaced = graph.nodes.filter((node) => !placed.includes(String(node.id)));
  if (unplaced.length) throw new Error(`${name}: no column for nodes ${unplaced.map((n) => n.id)}`);
  const gap = 40;
  let x = 0;
  for (const column of columns) {
    const nodes = column.map((id) => graph.getNodeById(id));
    let y = 0;
    for (const node of nodes) {
      node.pos = [x, y + LiteGraph.NODE_TITLE_HEIGHT];
      y += node.size[1] + LiteGraph.NODE_TITLE_HEIGHT + gap;
    }
    x += Math.max(...nodes.map((node) => node.size[0])) + gap * 1.5;
  }
  const bounds = (nodes) => {
    const xs = nodes.flatMap((n) => [n.pos[0], n.pos[0] + n.size[0]]);
    const ys = nodes.flatMap((n) => [n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT, n.pos[1] + n.size[1]]);
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  };
  const [left, top, , bottom] = bounds(graph.nodes);
  const markdown = LiteGraph.createNode('MarkdownNote');
  markdown.title = 'Read me: models and settings';
  markdown.widgets[0].value = note;
  markdown.size = [460, Math.max(560, bottom - top)];
  markdown.pos = [left - markdown.size[0] - 60, top + LiteGraph.NODE_TITLE_HEIGHT];
  graph.add(markdown);

  const [x0, y0, x1, y1] = bounds(graph.nodes);
  const canvas = app.canvas;
  const [width, height] = [canvas.canvas.clientWidth, canvas.canvas.clientHeight];
  const margin = 40;
  const scale = Math.min((width - 2 * margin) / (x1 - x0), (height - 2 * margin - 80) / (y1 - y0), 1);
  canvas.ds.scale = scale;
  canvas.ds.offset = [(width / scale - (x1 - x0)) / 2 - x0, (height / scale - (y1 - y0)) / 2 - y0 + 20 / scale];
  canvas.setDirty(true, true);
  const { output, workflow } = await app.graphToPrompt();
  return { output, workflow };
}

const options = parseArgs(process.argv.slice(2));
const sources = JSON.parse(fs.readFileSync(options.sources, 'utf8'));
await fetch(`${options.url}/api/settings`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  // No first-run dialog, no minimap, and full node detail at any zoom (for the thumbnail).
  body: JSON.stringify({
    'Comfy.TutorialCompleted': true,
    'Comfy.Minimap.Visible': false,
    'LiteGraph.Canvas.MinFontSizeForLOD': 0,
  }),
});
const { chromium } = await playwright();
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'opensora-export-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: options.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  viewport: { width: options.viewport[0], height: options.viewport[1] },
});
const errors = [];
let failed = false;
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${options.url}/`, { waitUntil: 'load', timeout: 120000 });
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph, null, { timeout: 120000 });
  await page.keyboard.press('Escape');
  fs.mkdirSync(path.join(options.out, 'api'), { recursive: true });
  if (options.shots) fs.mkdirSync(options.shots, { recursive: true });
  for (const [name, source] of Object.entries(sources)) {
    if (options.saved) {
      const saved = JSON.parse(fs.readFileSync(path.join(options.out, `${name}.json`), 'utf8'));
      await page.evaluate((workflow) => window.app.loadGraphData(workflow), saved);
      await page.waitForTimeout(1500);
      await page.screenshot({ path: path.join(options.shots, `${name}.png`) });
      console.log(`${name}: screenshot of the saved workflow`);
      continue;
    }
    const { output, workflow } = await page.evaluate(buildInPage, { name, ...source });
    const missing = Object.keys(source.prompt).filter((id) => !output[id]);
    if (missing.length) {
      failed = true;
      console.log(`${name}: nodes missing from the export: ${missing.join(', ')}`);
    }
    fs.writeFileSync(path.join(options.out, `${name}.json`), `${JSON.stringify(workflow, null, 2)}\n`);
    fs.writeFileSync(path.join(options.out, 'api', `${name}.json`), `${JSON.stringify(output, null, 2)}\n`);
    if (options.shots) {
      await page.waitForTimeout(1500);
      await page.screenshot({ path: path.join(options.shots, `${name}.png`) });
    }
    console.log(`${name}: ${workflow.nodes.length} nodes, ${workflow.links.length} links`);
  }
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
for (const message of errors) console.log(`page error: ${message}`);
process.exit(failed ? 1 : 0);
