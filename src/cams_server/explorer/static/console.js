// The ROI console (/console): enablements at a glance and a space's return, drawn with
// Chart.js (vendored beside this file). Every figure comes from the admin API's
// /_cams/console/* endpoints, which compute them with the functions the metric reads
// answer with. The admin token is entered here and kept in this tab's session storage.
(function () {
  'use strict';

  const TOKEN_KEY = 'cams-console-token';
  const DAY = 86400000;
  const COLORS = ['#ff6a00', '#1677ff', '#00a870', '#a04cd9', '#e8a317', '#d83a52', '#13a8a8',
    '#6b7785'];
  const charts = {};
  let enablements = [];
  let sortKey = 'enabled_at';
  let sortDescending = true;
  let shown = null; // the space on view

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? '' : v);
    }
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  }

  async function admin(path, params) {
    const res = await fetch('/_cams/console/' + path + '?' + new URLSearchParams(params), {
      headers: { Authorization: 'Bearer ' + token() },
      cache: 'no-store',
    });
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok) {
      const error = new Error((body && body.Message) || 'HTTP ' + res.status);
      error.status = res.status;
      error.code = (body && body.Code) || '';
      throw error;
    }
    return body;
  }

  // -- range and granularity ------------------------------------------------------------

  function range() {
    const choice = $('range').value;
    if (choice === 'custom') {
      const start = Date.parse($('from').value + 'T00:00:00Z');
      const end = Date.parse($('to').value + 'T23:59:59.999Z');
      if (Number.isFinite(start) && Number.isFinite(end)) return { start, end };
    }
    const end = Date.now();
    return { start: end - Number(choice === 'custom' ? 7 : choice) * DAY, end };
  }

  function granularity(r) {
    const chosen = $('granularity').value;
    if (chosen !== 'auto') return chosen;
    return r.end - r.start <= 2 * DAY ? 'HALF_HOUR' : 'DAILY';
  }

  function periodLabel(ms, grain) {
    const iso = new Date(ms).toISOString();
    return grain === 'DAILY' ? iso.slice(0, 10) : iso.slice(5, 16).replace('T', ' ');
  }

  function number(value) {
    return value === null || value === undefined ? '–' : value.toLocaleString('en-US');
  }

  function money(value) {
    return value === null || value === undefined ? '–' : value.toFixed(4);
  }

  function percent(value) {
    return value === null || value === undefined ? '–' : (value * 100).toFixed(1) + '%';
  }

  function tooLong(error) {
    return error.status === 400 && /90 days/.test(error.message);
  }

  // -- the token --------------------------------------------------------------------------

  async function open(event) {
    if (event) event.preventDefault();
    const given = $('token').value.trim();
    if (given) sessionStorage.setItem(TOKEN_KEY, given);
    $('token').value = '';
    await loadEnablements();
  }

  function refuse(message) {
    $('overview').hidden = true;
    $('space-view').hidden = true;
    $('token-card').hidden = false;
    const box = $('token-error');
    box.textContent = message;
    box.hidden = false;
  }

  function forget() {
    sessionStorage.removeItem(TOKEN_KEY);
    refuse('The token is forgotten: enter it again to open the console.');
  }

  // -- enablements ------------------------------------------------------------------------

  async function loadEnablements() {
    if (!token()) {
      refuse('Enter the admin token to open the console.');
      return;
    }
    const r = range();
    let body;
    try {
      body = await admin('enablements', { Start: r.start, End: r.end });
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        sessionStorage.removeItem(TOKEN_KEY);
        refuse('Refused (' + error.code + '): ' + error.message);
        return;
      }
      if (error.status !== 400) {
        refuse(error.message);
        return;
      }
      // A range the reads refuse (over 90 days): said here, the rest stays.
      $('range-error').textContent = tooLong(error)
        ? 'The range is too long: the metric reads cover at most 90 days. Choose a shorter range.'
        : error.message;
      $('range-error').hidden = false;
      enablements = [];
      renderEnablements();
      if (shown) await showSpace(shown);
      return;
    }
    $('range-error').hidden = true;
    $('token-error').hidden = true;
    $('token-card').hidden = true;
    $('overview').hidden = false;
    enablements = body.Enablements;
    renderEnablements();
    if (shown) await showSpace(shown);
  }

  function sortValue(row, key) {
    if (key in row.totals) return row.totals[key] === null ? -1 : row.totals[key];
    return row[key] === null ? '' : String(row[key]);
  }

  function renderEnablements() {
    const filter = $('account-filter').value.trim().toLowerCase();
    const rows = enablements
      .filter((row) => !filter || row.account_id.toLowerCase().includes(filter))
      .sort((a, b) => {
        const x = sortValue(a, sortKey);
        const y = sortValue(b, sortKey);
        const order = x < y ? -1 : x > y ? 1 : 0;
        return sortDescending ? -order : order;
      });
    const body = $('enablements').querySelector('tbody');
    body.replaceChildren();
    for (const row of rows) {
      const tr = el('tr', { 'data-account': row.account_id });
      tr.append(el('td', {}, row.account_id));
      const spaces = el('td', {});
      if (row.space_id === null) spaces.append(el('span', { class: 'hint' }, 'all own spaces: '));
      for (const space of row.spaces) {
        const button = el('button', { type: 'button', class: 'link', 'data-space': space }, space);
        button.addEventListener('click', () => showSpace(space));
        spaces.append(button, document.createTextNode(' '));
      }
      tr.append(spaces);
      tr.append(el('td', {}, row.enabled_at.replace('T', ' ').slice(0, 19) + 'Z'));
      tr.append(el('td', { class: 'arn' }, row.enabled_by));
      const state = el('td', { class: 'state ' + row.upstream }, row.upstream);
      if (row.upstream_error) state.title = row.upstream_error;
      if (row.upstream === 'failed' && row.upstream_error) {
        state.append(el('small', {}, ' ' + row.upstream_error));
      }
      tr.append(state);
      for (const key of ['Sent', 'Delivered', 'Read', 'Clicked']) {
        tr.append(el('td', { class: 'num', 'data-total': key }, number(row.totals[key])));
      }
      tr.append(el('td', { class: 'num', 'data-total': 'AmountSpent' }, money(row.totals.AmountSpent)));
      body.append(tr);
    }
    $('enablements-empty').hidden = enablements.length > 0 || !$('range-error').hidden;
    for (const button of document.querySelectorAll('#enablements th button')) {
      const active = button.dataset.sort === sortKey;
      button.setAttribute('aria-sort', active ? (sortDescending ? 'descending' : 'ascending') : 'none');
    }
  }

  // -- a space ----------------------------------------------------------------------------

  async function showSpace(space) {
    shown = space;
    const r = range();
    const grain = granularity(r);
    const view = $('space-view');
    view.hidden = false;
    $('space-title').textContent = 'Space ' + space;
    const empty = $('space-empty');
    let data;
    try {
      data = await admin('space', { SpaceId: space, Start: r.start, End: r.end, Granularity: grain });
    } catch (error) {
      clearCharts();
      $('figures').replaceChildren();
      empty.textContent = tooLong(error)
        ? 'The range is too long: the metric reads cover at most 90 days. Choose a shorter range.'
        : 'The space could not be read: ' + error.message;
      empty.hidden = false;
      return;
    }
    $('space-title').textContent = 'Space ' + data.SpaceId + ' (account ' + data.AccountId + ')';
    $('space-enabled').textContent = data.EnabledAt === null
      ? ''
      : 'ROI statistics enabled ' + new Date(data.EnabledAt).toISOString().replace('.000Z', 'Z') +
        ': outcomes before then are kept but not counted.';
    if (data.EnabledAt === null) {
      empty.textContent = 'ROI statistics are not enabled for this space, so nothing is counted: ' +
        'call EnableWhatsappROIMetric for it.';
      empty.hidden = false;
    } else if (data.Totals.Sent === 0 && data.Phones.every((p) => p.Data.every((e) => !e.SentCount))) {
      empty.textContent = 'No traffic in this range: no message of this space was sent then.';
      empty.hidden = false;
    } else {
      empty.hidden = true;
    }
    renderFigures(data.Totals);
    drawCharts(data);
  }

  function renderFigures(t) {
    const tiles = [
      ['Sent', number(t.Sent)],
      ['Delivered', number(t.Delivered) + ' · ' + percent(t.DeliveredRate)],
      ['Read', number(t.Read) + ' · ' + percent(t.ReadRate)],
      ['Clicked', number(t.Clicked) + ' · ' + percent(t.ClickRate)],
      ['Amount spent', money(t.AmountSpent)],
      ['Cost per delivered', money(t.CostPerDelivered)],
      ['Cost per URL-button click', money(t.CostPerUrlButtonClick)],
    ];
    const box = $('figures');
    box.replaceChildren();
    for (const [label, value] of tiles) {
      const tile = el('div', { class: 'figure', 'data-figure': label });
      tile.append(el('span', { class: 'label' }, label), el('strong', {}, value));
      box.append(tile);
    }
  }

  // -- charts -----------------------------------------------------------------------------

  // A vertical line where the space was enabled, on the time series.
  const enabledMarker = {
    id: 'enabledMarker',
    afterDatasetsDraw(chart, _args, options) {
      if (options.index === null || options.index === undefined) return;
      const x = chart.scales.x.getPixelForValue(options.index);
      const { top, bottom } = chart.chartArea;
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = '#d83a52';
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
      ctx.fillStyle = '#d83a52';
      ctx.font = '11px sans-serif';
      ctx.fillText('enabled', x + 4, top + 10);
      ctx.restore();
    },
  };

  function clearCharts() {
    for (const name of Object.keys(charts)) {
      charts[name].destroy();
      delete charts[name];
    }
  }

  function chart(name, config) {
    config.options = Object.assign({
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
    }, config.options || {});
    charts[name] = new root.Chart($('chart-' + name), config);
  }

  function drawCharts(data) {
    clearCharts();
    const labels = data.Periods.map((p) => periodLabel(p, data.Granularity));
    const at = data.EnabledAt;
    let marker = null;
    if (at !== null) {
      const index = data.Periods.findIndex((p) => p <= at && at < p + data.PeriodMs);
      marker = index >= 0 ? index : null;
    }
    const timeOptions = { plugins: { enabledMarker: { index: marker } } };
    const series = [];
    data.Templates.forEach((t, i) => {
      const name = t.TemplateCode + ' (' + t.Language + ')';
      const color = COLORS[i % COLORS.length];
      for (const [field, label, dash] of [['SentCount', 'sent', []], ['DeliveredCount', 'delivered', [6, 3]], ['ReadCount', 'read', [2, 2]]]) {
        series.push({
          label: name + ' ' + label,
          data: t.Data.map((e) => e[field]),
          borderColor: color,
          backgroundColor: color,
          borderDash: dash,
          pointRadius: 1,
        });
      }
    });
    chart('templates', { type: 'line', data: { labels, datasets: series }, options: timeOptions, plugins: [enabledMarker] });
    const phones = [];
    data.Phones.forEach((p, i) => {
      const color = COLORS[(i + 3) % COLORS.length];
      phones.push({ label: p.PhoneNumber + ' sent', data: p.Data.map((e) => e.SentCount), borderColor: color, backgroundColor: color, pointRadius: 1 });
      phones.push({ label: p.PhoneNumber + ' delivered', data: p.Data.map((e) => e.DeliveredCount), borderColor: color, backgroundColor: color, borderDash: [6, 3], pointRadius: 1 });
    });
    chart('phones', { type: 'line', data: { labels, datasets: phones }, options: timeOptions, plugins: [enabledMarker] });
    const t = data.Totals;
    chart('funnel', {
      type: 'bar',
      data: {
        labels: ['Sent', 'Delivered (' + percent(t.DeliveredRate) + ')', 'Read (' + percent(t.ReadRate) + ')', 'Clicked (' + percent(t.ClickRate) + ')'],
        datasets: [{ label: 'messages', data: [t.Sent, t.Delivered, t.Read, t.Clicked], backgroundColor: COLORS.slice(0, 4) }],
      },
      options: { plugins: { legend: { display: false } } },
    });
    chart('buttons', {
      type: 'bar',
      data: {
        labels: data.Buttons.map((b) => b.Type + ': ' + b.ButtonContent),
        datasets: [{ label: 'clicks', data: data.Buttons.map((b) => b.Count), backgroundColor: '#1677ff' }],
      },
      options: { indexAxis: 'y', plugins: { legend: { display: false } } },
    });
    const spent = data.Periods.map((_, i) =>
      Math.round(data.Templates.reduce((sum, tpl) => sum + tpl.Data[i].AmountSpent, 0) * 1e6) / 1e6);
    chart('cost', {
      type: 'bar',
      data: { labels, datasets: [{ label: 'amount spent', data: spent, backgroundColor: '#ff6a00' }] },
      options: { plugins: { legend: { display: false }, enabledMarker: { index: marker } } },
      plugins: [enabledMarker],
    });
  }

  // A chart's series as CSV: what the chart shows, ready for a spreadsheet.
  function chartCsv(name) {
    const data = charts[name].data;
    const quote = (v) => {
      const text = String(v);
      return /[",\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
    };
    const lines = [['', ...data.datasets.map((d) => d.label)].map(quote).join(',')];
    data.labels.forEach((label, i) => {
      lines.push([label, ...data.datasets.map((d) => d.data[i])].map(quote).join(','));
    });
    return lines.join('\n') + '\n';
  }

  function downloadCsv(name) {
    if (!charts[name]) return;
    const blob = new Blob([chartCsv(name)], { type: 'text/csv;charset=utf-8' });
    const link = el('a', { href: URL.createObjectURL(blob), download: (shown || 'space') + '-' + name + '.csv' });
    document.body.append(link);
    link.click();
    link.remove();
  }

  // -- wiring -----------------------------------------------------------------------------

  const root = window;

  function start() {
    $('token-form').addEventListener('submit', open);
    $('space-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const space = $('space-id').value.trim();
      if (space) showSpace(space);
    });
    $('sign-out').addEventListener('click', forget);
    $('account-filter').addEventListener('input', renderEnablements);
    for (const id of ['range', 'granularity', 'from', 'to']) {
      $(id).addEventListener('change', () => {
        $('custom-range').hidden = $('range').value !== 'custom';
        loadEnablements();
      });
    }
    for (const button of document.querySelectorAll('#enablements th button')) {
      button.addEventListener('click', () => {
        sortDescending = button.dataset.sort === sortKey ? !sortDescending : true;
        sortKey = button.dataset.sort;
        renderEnablements();
      });
    }
    for (const button of document.querySelectorAll('button.csv')) {
      button.addEventListener('click', () => downloadCsv(button.dataset.chart));
    }
    root.camsConsole = { charts, chartCsv };
    if (token()) loadEnablements();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
