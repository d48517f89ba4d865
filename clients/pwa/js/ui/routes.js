/** Which views each role has, and the navigation shown for it (first entry: the home). */

import * as instructor from './instructor.js';
import * as lesson from './lesson.js';
import * as student from './student.js';
import * as theory from './theory.js';
import * as admin from './admin.js';
import * as account from './account.js';
import * as people from './people.js';
import * as bookings from './bookings.js';

export const NAV = {
  instructor: [['today', 'Today'], ['week', 'Week'], ['students', 'Students'], ['account', 'Account']],
  student: [['home', 'Progress'], ['theory', 'Theory'], ['mock', 'Mock test'], ['bookings', 'Bookings'], ['account', 'Account']],
  admin: [['dashboard', 'Dashboard'], ['people', 'People'], ['bookings', 'Bookings'], ['lessons', 'Lessons'], ['journal', 'Journal'],
    ['notifications', 'Notifications'], ['devices', 'Devices'], ['school', 'School'], ['account', 'Account']],
};
NAV.owner = NAV.admin;
NAV.guardian = NAV.student;

export const ROUTES = {
  instructor: {
    today: instructor.today, week: instructor.week, students: instructor.students,
    student: instructor.studentDetail, lesson: lesson.lessonView, account: account.accountView,
  },
  student: {
    home: student.home, theory: theory.topics, practice: theory.practice, mock: theory.mock,
    result: theory.result, bookings: student.bookings, account: account.accountView,
  },
  admin: {
    dashboard: admin.dashboard, lessons: instructor.week, lesson: lesson.lessonView,
    student: instructor.studentDetail, journal: admin.journal, notifications: admin.notifications,
    devices: admin.devices, school: admin.school, account: account.accountView,
    people: people.people, person: people.person,
    bookings: bookings.bookings, booking: bookings.booking,
  },
};
ROUTES.guardian = ROUTES.student;
