/** A student's progress: readiness and the latest level per skill, by stage of learning. */

import { h, section, empty, newId } from './dom.js';

export const STAGES = { 1: 'Stage 1 · Controlling the car', 2: 'Stage 2 · Mirrors, signals and junctions',
  3: 'Stage 3 · Traffic and roundabouts', 4: 'Stage 4 · Manoeuvres and faster roads', 5: 'Stage 5 · Towards the test' };

export function levelMeter(level, label) {
  return h('span', { class: 'meter', role: 'img', 'aria-label': `${label}: level ${level || 0} of 5` },
    [1, 2, 3, 4, 5].map((n) => h('span', { class: n <= (level || 0) ? 'on' : '' })));
}

/**
 * Test readiness from the skills (the server's `readiness_pct`, from the latest level of
 * every skill) and the theory: a passed theory test counts as 100%, otherwise the mean
 * score (as a share of the marks) of the last three mock tests, 0 with none. Skills weigh
 * four fifths and theory one fifth: the practical test is most of what is left to pass,
 * but a learner who cannot pass the theory cannot book it. With no `theory` given (no mock
 * tests or test records at hand) the skills alone are shown, as before.
 */
export function combinedReadiness(skillsPct, mockTests = [], tests = [], studentId = null) {
  const mine = (list) => (studentId ? list.filter((x) => x.student_id === studentId) : list);
  const skills = skillsPct ?? 0;
  const passedTheory = mine(tests).some((t) => t.kind === 'theory' && t.result === 'passed');
  const scored = mine(mockTests).filter((m) => typeof m.score === 'number' && m.total)
    .sort((a, b) => (a.finished_at < b.finished_at ? 1 : -1)).slice(0, 3);
  const theory = passedTheory ? 100
    : scored.length ? Math.round((100 * scored.reduce((n, m) => n + m.score / m.total, 0)) / scored.length) : 0;
  return { pct: Math.round(0.8 * skills + 0.2 * theory), skills, theory };
}

export function readiness(pct, parts = null) {
  const value = pct ?? 0;
  const id = newId('readiness');
  return h('div', { class: 'readiness' },
    h('label', { for: id }, `Test readiness: ${value}%`),
    h('progress', { id, max: '100', value: String(value) }, `${value}%`),
    parts ? h('p', { class: 'hint', 'data-testid': 'readiness-parts' }, `Skills ${parts.skills}% · theory ${parts.theory}%`) : null);
}

/** Skills grouped by stage with their levels from `progress.levels`. */
export function progressSection(skills, progress, title = 'Progress', theory = null) {
  if (!skills.length) return section(title, empty('The skills catalogue has not been downloaded yet.'));
  const levels = (progress && progress.levels) || {};
  // With the student's mock tests and test records: readiness combines skills and theory.
  const combined = theory ? combinedReadiness(progress ? progress.readiness_pct : 0, theory.mockTests, theory.tests,
    theory.studentId ?? (progress ? progress.student_id : null)) : null;
  const byStage = new Map();
  for (const s of [...skills].sort((a, b) => a.stage - b.stage || a.position - b.position)) {
    if (!byStage.has(s.stage)) byStage.set(s.stage, []);
    byStage.get(s.stage).push(s);
  }
  return section(title,
    combined ? readiness(combined.pct, combined) : readiness(progress ? progress.readiness_pct : 0),
    [...byStage].map(([stage, list]) => h('details', { class: 'stage', open: stage <= 2 },
      h('summary', {}, `${STAGES[stage] || `Stage ${stage}`} — ${list.filter((s) => levels[s.id]).length}/${list.length} assessed`),
      h('ul', { class: 'skills plain' }, list.map((s) => h('li', {},
        h('span', { class: 'skill-name' }, s.name),
        levels[s.id] ? levelMeter(levels[s.id], s.name) : h('span', { class: 'hint' }, 'not yet assessed')))))));
}
