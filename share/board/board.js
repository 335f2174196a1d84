// lmf board: the page's script. Plain JavaScript, no build step: it fills
// the forms from lmf's key table (/api/info), lists the datasets that fit
// the stage, posts forms to preview, save, start and stop, and polls the
// job's status to plot its trainer_log.jsonl.
'use strict';

const TOKEN = new URLSearchParams(location.search).get('token');
const $ = (id) => document.getElementById(id);
let keys = {};
let info = null;
let tab = 'train';
let lastState = null;

function withToken(path) {
	if (!TOKEN)
		return path;
	return path + (path.includes('?') ? '&' : '?') + 'token=' +
	    encodeURIComponent(TOKEN);
}

async function api(path, body) {
	const opt = { credentials: 'same-origin' };
	if (body !== undefined) {
		opt.method = 'POST';
		opt.headers = { 'Content-Type':
		    'application/x-www-form-urlencoded' };
		opt.body = body;
	}
	const r = await fetch(withToken(path), opt);
	let j = {};
	try { j = await r.json(); } catch (e) { j = { error: r.statusText }; }
	if (!r.ok)
		throw new Error(j.error || ('HTTP ' + r.status));
	return j;
}

function say(text, error) {
	const m = $('msg');
	m.textContent = text;
	m.className = error ? 'error' : '';
}

function stamp() {
	const d = new Date(), p = (n) => String(n).padStart(2, '0');
	return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' +
	    p(d.getDate()) + '-' + p(d.getHours()) + '-' + p(d.getMinutes()) +
	    '-' + p(d.getSeconds());
}

function fillSelect(sel, words, value) {
	sel.replaceChildren();
	for (const w of words) {
		const o = document.createElement('option');
		o.value = o.textContent = w;
		sel.appendChild(o);
	}
	if (value !== undefined && value !== null)
		sel.value = value;
}

function fillDefaults() {
	for (const el of $('form').elements) {
		const k = keys[el.name];
		if (!k || el.name === 'dataset')
			continue;
		if (el.tagName === 'SELECT' && el.name !== 'stage')
			fillSelect(el, (k.choices || '').split(' '), k.default);
		else if (el.tagName !== 'SELECT' && k.default !== undefined)
			el.value = k.default;
	}
	fillSelect($('stage'), info.stages, keys.stage.default);
	$('output_dir').value = info.runs + '/train_' + stamp();
	$('export_dir').value = info.runs + '/export_' + stamp();
}

async function loadDatasets() {
	const sel = $('datasets');
	const keep = new Set(Array.from(sel.selectedOptions, (o) => o.value));
	const q = '/api/datasets?dataset_dir=' +
	    encodeURIComponent($('dataset_dir').value) + '&stage=' +
	    encodeURIComponent($('stage').value);
	try {
		const names = await api(q);
		fillSelect(sel, names);
		for (const o of sel.options)
			o.selected = keep.has(o.value);
		sel.dataset.stage = $('stage').value;
		say('');
	} catch (e) {
		fillSelect(sel, []);
		say(e.message, true);
	}
}

function shown(el) {
	const fs = el.closest('[class*="t-"]');
	return !fs || fs.classList.contains('t-' + tab);
}

// the form as key=value pairs: given keys that differ from the defaults
function formBody() {
	const p = new URLSearchParams();
	p.set('_tab', tab);
	$('dataset').value = Array.from($('datasets').selectedOptions,
	    (o) => o.value).join(',');
	for (const el of $('form').elements) {
		if (!el.name || el.name === '_tab' || !shown(el) ||
		    el.value === '')
			continue;
		const k = keys[el.name];
		if (k && !el.hasAttribute('data-always') &&
		    el.name !== 'dataset' && el.value === k.default)
			continue;
		p.set(el.name, el.value);
	}
	if (tab === 'train' || tab === 'predict')
		p.set('do_train', 'true');
	if (tab === 'predict') {
		p.set('do_predict', 'true');
		p.set('predict_with_generate', 'true');
	}
	for (const line of $('extra').value.split('\n')) {
		const m = line.match(/^\s*([A-Za-z_0-9]+)\s*[:=]\s*(.*?)\s*$/);
		if (m)
			p.set(m[1], m[2]);
		else if (line.trim() !== '')
			p.set(line.trim(), '');
	}
	return p.toString();
}

async function post(what) {
	try {
		const j = await api('/api/' + what, formBody());
		$('command').textContent = j.command;
		$('yaml').textContent = j.yaml;
		say(what === 'preview' ? 'preview of ' + j.path :
		    what === 'save' ? 'saved ' + j.path : 'started: ' +
		    j.command);
		if (what === 'start')
			poll();
	} catch (e) {
		say(e.message, true);
	}
}

async function stop() {
	try {
		await api('/api/stop', '');
		say('stop sent (SIGINT): the trainer saves a checkpoint');
		poll();
	} catch (e) {
		say(e.message, true);
	}
}

function plot(log) {
	const c = $('plot'), g = c.getContext('2d');
	const W = c.width, H = c.height, L = 50, R = 60, T = 14, B = 24;
	const pts = log.filter((e) => e.loss !== undefined);
	const ev = log.filter((e) => e.eval_loss !== undefined);
	g.clearRect(0, 0, W, H);
	c.dataset.points = String(pts.length);
	if (!pts.length)
		return;
	const total = Math.max(...log.map((e) => e.current_steps || 1), 1);
	const ls = pts.map((e) => e.loss).concat(ev.map((e) => e.eval_loss));
	const lo = Math.min(...ls), hi = Math.max(...ls);
	const lrs = pts.map((e) => e.lr || 0), lrmax = Math.max(...lrs, 1e-12);
	const x = (s) => L + (W - L - R) * s / total;
	const y = (v) => T + (H - T - B) * (1 - (v - lo) / ((hi - lo) || 1));
	const ylr = (v) => T + (H - T - B) * (1 - v / lrmax);
	g.strokeStyle = '#999';
	g.strokeRect(L, T, W - L - R, H - T - B);
	g.fillStyle = '#333';
	g.font = '11px sans-serif';
	g.fillText(hi.toFixed(3), 4, T + 8);
	g.fillText(lo.toFixed(3), 4, H - B);
	g.fillText('step ' + total, W - R - 60, H - 8);
	g.fillText('step 0', L, H - 8);
	g.fillText('lr ' + lrmax.toExponential(1), W - R + 4, T + 8);
	const line = (color, f, arr) => {
		g.strokeStyle = color;
		g.beginPath();
		arr.forEach((e, i) => (i ? g.lineTo : g.moveTo).call(g,
		    x(e.current_steps), f(e)));
		g.stroke();
	};
	line('#f0a020', (e) => ylr(e.lr || 0), pts);
	line('#1f5fbf', (e) => y(e.loss), pts);
	g.fillStyle = '#c62828';
	for (const e of ev)
		g.fillRect(x(e.current_steps) - 2, y(e.eval_loss) - 2, 5, 5);
	g.fillStyle = '#1f5fbf';
	g.fillText('loss', L + 6, T + 12);
	g.fillStyle = '#f0a020';
	g.fillText('lr', L + 40, T + 12);
}

function showJob(j) {
	const job = j.job, log = j.trainer_log || [];
	$('state').textContent = job.state + (job.command ? ': ' +
	    job.command : '');
	$('state').dataset.state = job.state;
	$('log').textContent = job.log || '';
	const last = log.length ? log[log.length - 1] : null;
	if (last) {
		$('progress').textContent = 'step ' + last.current_steps + '/' +
		    last.total_steps + (last.loss !== undefined ? ', loss ' +
		    last.loss : '') + (last.remaining_time ? ', ETA ' +
		    last.remaining_time : '') + ', ' + Math.round(job.seconds) +
		    ' s';
		$('barfill').style.width = (100 * last.current_steps /
		    Math.max(last.total_steps, 1)) + '%';
	} else {
		$('progress').textContent = job.running ? 'starting...' : '';
	}
	plot(log);
}

async function poll() {
	try {
		const j = await api('/api/status');
		showJob(j);
		if (lastState !== j.job.state && lastState !== null)
			loadRuns();
		lastState = j.job.state;
	} catch (e) {
		say(e.message, true);
	}
}

async function showRun(name) {
	const j = await api('/api/log?name=' + encodeURIComponent(name));
	if (lastState !== 'running')
		plot(j.trainer_log);
}

function cell(tr, text) {
	const td = document.createElement('td');
	td.textContent = text;
	tr.appendChild(td);
	return td;
}

async function loadRuns() {
	let j;
	try { j = await api('/api/runs'); } catch (e) { say(e.message, true); return; }
	const body = $('runs').tBodies[0];
	body.replaceChildren();
	for (const r of j.runs) {
		const tr = document.createElement('tr');
		tr.dataset.name = r.name;
		const a = document.createElement('a');
		a.href = '#';
		a.textContent = r.name;
		a.addEventListener('click', (ev) => { ev.preventDefault(); showRun(r.name); });
		cell(tr, '').appendChild(a);
		cell(tr, r.stage);
		cell(tr, r.status).className = 'status';
		cell(tr, r.last ? r.last.current_steps + '/' + r.last.total_steps : '');
		cell(tr, r.last && r.last.loss !== undefined ? r.last.loss : '');
		cell(tr, r.results ? Object.entries(r.results).map(([k, v]) =>
		    k + '=' + (typeof v === 'number' ? +v.toPrecision(4) : v)).join(' ') : '');
		cell(tr, r.checkpoints.join(' ')).className = 'checkpoints';
		const td = cell(tr, '');
		if (r.checkpoints.length && r.status !== 'running' && r.status !== 'done') {
			const b = document.createElement('button');
			b.type = 'button';
			b.textContent = 'Resume';
			b.addEventListener('click', async () => {
				try {
					const k = await api('/api/resume', 'name=' + encodeURIComponent(r.name));
					say('started: ' + k.command);
					poll();
				} catch (e) { say(e.message, true); }
			});
			td.appendChild(b);
		}
		body.appendChild(tr);
	}
}

function setTab(t) {
	tab = t;
	$('tab').value = t;
	for (const b of document.querySelectorAll('#tabs button'))
		b.classList.toggle('on', b.dataset.tab === t);
	for (const fs of document.querySelectorAll('[class*="t-"]'))
		fs.classList.toggle('hide', !fs.classList.contains('t-' + t));
}

async function main() {
	try {
		info = await api('/api/info');
	} catch (e) {
		say(e.message, true);
		return;
	}
	for (const k of info.keys)
		keys[k.name] = k;
	$('version').textContent = 'lmf ' + info.version + ' - runs in ' + info.runs;
	fillDefaults();
	for (const b of document.querySelectorAll('#tabs button'))
		b.addEventListener('click', () => setTab(b.dataset.tab));
	$('stage').addEventListener('change', loadDatasets);
	$('dataset_dir').addEventListener('change', loadDatasets);
	$('preview').addEventListener('click', () => post('preview'));
	$('save').addEventListener('click', () => post('save'));
	$('start').addEventListener('click', () => post('start'));
	$('stop').addEventListener('click', stop);
	$('refresh').addEventListener('click', loadRuns);
	setTab('train');
	await loadDatasets();
	await loadRuns();
	await poll();
	setInterval(poll, 1000);
	document.body.dataset.ready = '1';
}

main();
