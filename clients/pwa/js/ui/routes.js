/** Which views each role has, and the navigation shown for it (first entry: the home). */

import * as instructor from './instructor.js';
import * as lesson from './lesson.js';
import * as student from './student.js';
import * as theory from './theory.js';
import * as admin from './admin.js';
import * as account from './account.js';
import * as people from './people.js';
import * as availability from './availability.js';
import * as cal from './calendar.js';
import * as audit from './audit.js';
import * as money from './money.js';
import * as catalogue from './catalogue.js';
import * as bookings from './bookings.js';
import * as messages from './messages.js';
import * as inbox from './inbox.js';
import * as guardian from './guardian.js';
import * as settings from './settings.js';
import * as earnings from './earnings.js';

export const NAV = {
  instructor: [['today', 'Today'], ['calendar', 'Calendar'], ['students', 'Students'], ['availability', 'Availability'], ['messages', 'Messages'], ['earnings', 'Earnings'], ['account', 'Account']],
  student: [['home', 'Progress'], ['theory', 'Theory'], ['mock', 'Mock test'], ['bookings', 'Bookings'], ['calendar', 'Calendar'], ['messages', 'Messages'], ['account', 'Account']],
  admin: [['dashboard', 'Dashboard'], ['messages', 'Messages'], ['people', 'People'], ['calendar', 'Calendar'], ['bookings', 'Bookings'], ['availability', 'Availability'],
    ['catalogue', 'Catalogue'], ['money', 'Money'], ['earnings', 'Earnings'], ['journal', 'Journal'], ['notifications', 'Notifications'], ['devices', 'Devices'], ['audit', 'Audit log'],
    ['school', 'School'], ['account', 'Account']],
};
NAV.owner = NAV.admin;
NAV.guardian = [['home', 'Learners'], ['calendar', 'Calendar'], ['messages', 'Messages'], ['account', 'Account']];

export const ROUTES = {
  instructor: {
    today: instructor.today, week: instructor.week, calendar: cal.calendar, students: instructor.students,
    student: instructor.studentDetail, lesson: lesson.lessonView, account: account.accountView,
    availability: availability.availability, settings: settings.settingsView,
    messages: messages.messages, earnings: earnings.earningsView,
  },
  student: {
    home: student.home, theory: theory.topics, practice: theory.practice, mock: theory.mock,
    result: theory.result, bookings: student.bookings, calendar: cal.calendar, account: account.accountView,
    settings: settings.settingsView, messages: messages.messages,
  },
  admin: {
    dashboard: admin.dashboard, lessons: instructor.week, calendar: cal.calendar, lesson: lesson.lessonView,
    student: instructor.studentDetail, journal: admin.journal, notifications: admin.notifications,
    devices: admin.devices, school: admin.school, account: account.accountView,
    people: people.people, person: people.person, availability: availability.availability,
    audit: audit.auditView, catalogue: catalogue.catalogue, money: money.moneyView,
    bookings: bookings.bookings, booking: bookings.booking, settings: settings.settingsView,
    messages: messages.messages, earnings: earnings.adminEarnings,
  },
};
ROUTES.guardian = {
  home: guardian.home, calendar: cal.calendar, account: account.accountView, settings: settings.settingsView,
  messages: messages.messages,
};
// Every role's notification centre, opened from the header's Inbox link (not a tab).
for (const routes of Object.values(ROUTES)) routes.inbox = inbox.inboxView;
