// Every invoke throws: the runtime client answers with Lambda's error shape.
'use strict';

class PaymentDeclined extends Error {
  constructor(message) {
    super(message);
    this.name = 'PaymentDeclined';
  }
}

exports.handler = async () => {
  throw new PaymentDeclined('card 4242 declined');
};
