/** A student's progress: readiness and the latest level per skill, by stage of learning. */

import { h, section, empty } from './dom.js';

export const STAGES = { 1: 'Stage 1 · Controlling the car', 2: 'Stage 2 · Mirrors, signals and junctions',
  3: 'Stage 3 · Traffic and roundabouts', 4: 'Stage 4 · Manoeuvres and faster roads', 5: 'Stage 5 · Towards the test' };

export function levelMeter(level, label) {
  return h('span', { class: 'meter', role: 'img', 'aria-label': `${label}: level ${level || 0} of 5` },
    [1, 2, 3, 4, 5].map((n) => h('span', { class: n <= (level || 0) ? 'on' : '' })));
}

export function readiness(pct) {
  const value = pct ?? 0;
  return h('div', { class: 'readiness' },
    h('label', { for: 'readiness-bar' }, `Test readiness: ${value}%`),
    h('progress', { id: 'readiness-bar', max: '100', value: String(value) }, `${value}%`));
}

/** Skills grouped by stage with their levels from `progress.levels`. */
export function progressSection(skills, progress, title = 'Progress') {
  if (!skills.length) return section(title, empty('The skills catalogue has not been downloaded yet.'));
  const levels = (progress && progress.levels) || {};
  const byStage = new Map();
  for (const s of [...skills].sort((a, b) => a.stage - b.stage || a.position - b.position)) {
    if (!byStage.has(s.stage)) byStage.set(s.stage, []);
    byStage.get(s.stage).push(s);
  }
  return section(title,
    readiness(progress ? progress.readiness_pct : 0),
    [...byStage].map(([stage, list]) => h('details', { class: 'stage', open: stage <= 2 },
      h('summary', {}, `${STAGES[stage] || `Stage ${stage}`} — ${list.filter((s) => levels[s.id]).length}/${list.length} assessed`),
      h('ul', { class: 'skills plain' }, list.map((s) => h('li', {},
        h('span', { class: 'skill-name' }, s.name),
        levels[s.id] ? levelMeter(levels[s.id], s.name) : h('span', { class: 'hint' }, 'not yet assessed')))))));
}
